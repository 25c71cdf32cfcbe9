import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { createCache } from 'async-cache-dedupe'
import { closeClient, redisDefaults, waitForReady } from '@scaleout/core'
import type { BuildServer } from '../types.js'
import { load, modeOf, serveUser } from './cache-shared.js'

/** async-cache-dedupe with its Redis storage (dedupes within one process only). */
export const build: BuildServer = async ({ redisUrl, options }) => {
  const app = Fastify()
  const redis = new Redis(redisUrl, { ...redisDefaults })
  await waitForReady(redis, 5000)
  app.addHook('onClose', async () => { await closeClient(redis) })
  const cache = createCache({ ttl: 3600, storage: { type: 'redis', options: { client: redis } } })
    .define('user', async (_key: string) => await load())
  serveUser(app, modeOf(options), async (key) => await cache.user(key))
  return app
}
