import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { redisFor } from '../helpers/index.js'
import { build, cookieOf, valueOf } from './setup.js'

// @fastify/session's suite calls fastify.decryptSession with a plain object standing in for the
// request (outside any request, as a WebSocket server holding only the handshake would), then
// reads and saves `holder.session`.

t.test('fastify.decryptSession on a plain object: holder.session is the session the value names', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url })
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'plain' } })) as string
  const holder = {} as FastifyRequest
  await app.decryptSession(valueOf(cookie), holder)
  t.equal(holder.session?.get('userId'), 'plain')
  t.equal(holder.session?.sessionId, valueOf(cookie).slice(0, 51))
  holder.session?.set('n', 9)
  await holder.session?.save()
  t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { userId: 'plain', n: 9 })
})
