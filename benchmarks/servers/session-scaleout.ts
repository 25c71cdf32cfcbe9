import Fastify from 'fastify'
import session from '@scaleout/session'
import type { BuildServer } from '../types.js'

export const build: BuildServer = async ({ redisUrl }) => {
  const app = Fastify()
  await app.register(session, { secret: 'benchmark-secret-0123456789-abcdefghij', redis: redisUrl })
  app.post('/login', async (request) => {
    await request.session.regenerate()
    request.session.set('userId', 'user-1')
    request.session.set('roles', ['reader', 'writer'])
    return { ok: true }
  })
  app.get('/read', async (request) => ({ user: request.session.get('userId') ?? null }))
  app.get('/modify', async (request) => {
    const n = ((request.session.get('n') as number | undefined) ?? 0) + 1
    request.session.set('n', n)
    return { n }
  })
  return app
}
