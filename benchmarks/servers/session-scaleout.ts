import Fastify from 'fastify'
import session, { type SessionOptions } from '@scaleout/session'
import type { BuildServer } from '../types.js'
import { sessionBytes, sessionRoutes } from './session-common.js'

// options.durable: passed on (the session-modify-durable scenario).
export const build: BuildServer = async ({ redisUrl, options }) => {
  const app = Fastify()
  await app.register(session, { secret: 'benchmark-secret-0123456789-abcdefghij', redis: redisUrl, ...(options.durable !== undefined ? { durable: options.durable as SessionOptions['durable'] } : {}) })
  sessionRoutes(app, (request) => request.session, sessionBytes(options))
  return app
}
