import Fastify from 'fastify'
import underPressure from '@fastify/under-pressure'
import { Redis } from 'ioredis'
import type { BuildServer } from '../types.js'

/**
 * The peer: @fastify/under-pressure's status route with the same Redis PING as its health check.
 * It runs the check on every request to the status route, so each probe is a Redis round trip.
 */
export const build: BuildServer = async ({ redisUrl }) => {
  const app = Fastify()
  const redis = new Redis(redisUrl)
  app.addHook('onClose', async () => { await redis.quit() })
  await app.register(underPressure, {
    exposeStatusRoute: '/status',
    healthCheck: async () => (await redis.ping()) === 'PONG'
  })
  return app
}
