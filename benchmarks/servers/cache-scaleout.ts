import Fastify from 'fastify'
import cache from '@scaleout/cache'
import type { BuildServer } from '../types.js'
import { load, modeOf, serveUser } from './cache-shared.js'

/** @scaleout/cache `wrap`: options.l1 false for the L2-only variant; options.mode 'miss' for a fill per request. */
export const build: BuildServer = async ({ redisUrl, options }) => {
  const app = Fastify()
  await app.register(cache, { redis: redisUrl, l1: options.l1 !== false, ttl: '1h' })
  serveUser(app, modeOf(options), async (key) => await app.cache.wrap(key, load))
  return app
}
