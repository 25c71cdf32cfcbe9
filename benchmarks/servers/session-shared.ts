import Fastify from 'fastify'
import fastifyRedis from '@fastify/redis'
import session from '@scaleout/session'
import type { BuildServer } from '../types.js'
import { sessionBytes, sessionRoutes } from './session-common.js'

// The Fastify-native set-up: the app registers @fastify/redis once, with ioredis's own defaults (no
// command timeout, an offline queue), and the session uses that shared client (fastify.redis).
export const build: BuildServer = async ({ redisUrl, options }) => {
  const app = Fastify()
  await app.register(fastifyRedis, { url: redisUrl })
  await app.register(session, { secret: 'benchmark-secret-0123456789-abcdefghij' })
  sessionRoutes(app, (request) => request.session, sessionBytes(options))
  return app
}
