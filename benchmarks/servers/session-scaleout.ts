import Fastify from 'fastify'
import session from '@scaleout/session'
import type { BuildServer } from '../types.js'
import { sessionRoutes } from './session-common.js'

export const build: BuildServer = async ({ redisUrl }) => {
  const app = Fastify()
  await app.register(session, { secret: 'benchmark-secret-0123456789-abcdefghij', redis: redisUrl })
  sessionRoutes(app, (request) => request.session)
  return app
}
