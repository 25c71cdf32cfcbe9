import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { closeClient, redisDefaults, waitForReady } from '@scaleout/core'
import type { BuildServer } from '../types.js'
import { load, modeOf, serveUser } from './cache-shared.js'

/** Hand-written ioredis GET + JSON.parse (SET on a miss): no lease, no tags, no L1, no bound. The floor. */
export const build: BuildServer = async ({ redisUrl, options }) => {
  const app = Fastify()
  const redis = new Redis(redisUrl, { ...redisDefaults })
  await waitForReady(redis, 5000)
  app.addHook('onClose', async () => { await closeClient(redis) })
  serveUser(app, modeOf(options), async (key) => {
    const raw = await redis.get(key)
    if (raw !== null) return JSON.parse(raw) as unknown
    const value = await load()
    await redis.set(key, JSON.stringify(value), 'EX', 3600)
    return value
  })
  return app
}
