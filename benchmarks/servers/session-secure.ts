import Fastify, { type FastifyRequest } from 'fastify'
import type { BuildServer } from '../types.js'

interface PeerSession { get: (key: string) => unknown, set: (key: string, value: unknown) => void }
const sessionOf = (request: FastifyRequest): PeerSession => (request as unknown as { session: PeerSession }).session

/** @fastify/secure-session: the whole session encrypted in the cookie, no Redis (and no revocation). */
export const build: BuildServer = async () => {
  const app = Fastify()
  // Imported by a computed name for the same reason as in session-fastify.ts.
  const plugin = (await import(String('@fastify/secure-session'))).default
  await app.register(plugin, { key: Buffer.alloc(32, 7), cookie: { path: '/', httpOnly: true } })
  app.post('/login', async (request) => {
    sessionOf(request).set('userId', 'user-1')
    sessionOf(request).set('roles', ['reader', 'writer'])
    return { ok: true }
  })
  app.get('/read', async (request) => ({ user: sessionOf(request).get('userId') ?? null }))
  app.get('/modify', async (request) => {
    const n = ((sessionOf(request).get('n') as number | undefined) ?? 0) + 1
    sessionOf(request).set('n', n)
    return { n }
  })
  return app
}
