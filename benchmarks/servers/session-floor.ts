import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import { resolveRedis, senderFor } from '@scaleout/core'
import type { BuildServer } from '../types.js'

// Not a session plugin: the least any Redis-backed session can do on a read, to measure against.
// The cookie is the key itself (no signature), and a read is one GETEX (which slides the expiry,
// as a session read must) and a JSON.parse, sent the cheapest way the core knows (senderFor).
const TTL = 86_400_000

export const build: BuildServer = async ({ redisUrl }) => {
  const app = Fastify()
  const { client, owned } = await resolveRedis(app, redisUrl, { plugin: 'session-floor' })
  const send = senderFor(client, owned, 1000)
  app.post('/login', async (_request, reply) => {
    const id = randomBytes(32).toString('base64url')
    await send.command('set', ['floor:' + id, JSON.stringify({ 'd:userId': '"user-1"' }), 'PX', TTL])
    reply.header('set-cookie', `sid=${id}; Path=/; HttpOnly`)
    return { ok: true }
  })
  app.get('/read', async (request) => {
    const id = (request.headers.cookie ?? '').slice('sid='.length)
    const text = await send.command<string | null>('getex', ['floor:' + id, 'PX', TTL])
    const fields = JSON.parse(text ?? '{}') as Record<string, string | undefined>
    return { user: fields['d:userId'] === undefined ? null : JSON.parse(fields['d:userId']) as unknown }
  })
  return app
}
