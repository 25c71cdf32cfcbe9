import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { closeClient, redisDefaults, senderFor, waitForReady } from '@scaleout/core'
import type { BuildServer } from '../types.js'
import { load, modeOf, serveUser } from './cache-shared.js'

/** The raw row's GET + JSON.parse through the core's sender (the cache's send path), no cache logic: the floor of that path. */
export const build: BuildServer = async ({ redisUrl, options }) => {
  const app = Fastify()
  const redis = new Redis(redisUrl, { ...redisDefaults })
  await waitForReady(redis, 5000)
  const send = senderFor(redis, true, 250)
  app.addHook('onClose', async () => { await closeClient(redis) })
  serveUser(app, modeOf(options), async (key) => {
    const raw = await send.getBuffer(key)
    if (raw !== null) return JSON.parse(raw.toString()) as unknown
    const value = await load()
    await send.command('set', [key, JSON.stringify(value), 'EX', 3600])
    return value
  })
  return app
}
