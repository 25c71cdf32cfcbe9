import Fastify from 'fastify'
import cache from '@scaleout/cache'
import type { BuildServer } from '../types.js'
import { keyFor, load, modeOf } from './cache-shared.js'

/** @scaleout/cache `wrap`: options.l1 false for the L2-only variant; options.mode 'miss' for a fill per request. */
export const build: BuildServer = async ({ redisUrl, options }) => {
  const app = Fastify()
  await app.register(cache, { redis: redisUrl, l1: options.l1 !== false, ttl: '1h' })
  const mode = modeOf(options)
  app.get('/user', async () => await app.cache.wrap(keyFor(mode), load))
  return app
}
