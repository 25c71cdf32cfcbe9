import Fastify, { type FastifyRequest } from 'fastify'
import type { BuildServer } from '../types.js'
import { sessionBytes, sessionRoutes, type BenchSession } from './session-common.js'

/** @fastify/secure-session: the whole session encrypted in the cookie, no Redis (and no revocation). */
export const build: BuildServer = async ({ options }) => {
  const app = Fastify()
  // Imported by a computed name for the same reason as in session-fastify.ts.
  const plugin = (await import(String('@fastify/secure-session'))).default
  await app.register(plugin, { key: Buffer.alloc(32, 7), cookie: { path: '/', httpOnly: true } })
  sessionRoutes(app, (request: FastifyRequest) => (request as unknown as { session: BenchSession }).session, sessionBytes(options))
  return app
}
