import Fastify from 'fastify'
import type { BuildServer } from '../types.js'

/** Bare Fastify with the session routes' shape and no session: the baseline. */
export const build: BuildServer = async () => {
  const app = Fastify()
  // A cookie too, so measured requests carry a Cookie header like every other row's.
  app.post('/login', async (_request, reply) => {
    reply.header('set-cookie', 'sid=bare; Path=/; HttpOnly')
    return { ok: true }
  })
  app.get('/read', async () => ({ user: null }))
  app.get('/modify', async () => ({ n: 1 }))
  return app
}
