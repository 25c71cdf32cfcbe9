import t from 'tap'
import { createHmac } from 'node:crypto'
import { adminFor, redisFor } from '../helpers/index.js'
import { build, cookieOf, OLD_SECRET, roundTrips, SECRET, sessionKeys, valueOf } from './setup.js'

// fastify.decryptSession, as in @fastify/session: a session named by a cookie value that did not
// come in the Cookie header (a WebSocket handshake carrying it in a header, say).

t.test('fastify.decryptSession loads the session a cookie value names into request.session', async (t) => {
  const server = await redisFor(t)
  const outcomes: Array<string | null> = []
  const app = await build(t, { redis: server.url, secret: [SECRET, OLD_SECRET] }, {}, (app) => {
    app.get('/ws', async (request) => {
      const value = request.headers['x-session'] as string
      const form = request.headers['x-form']
      if (form === 'promise') await app.decryptSession(value, request)
      else {
        await new Promise<void>((resolve) => {
          const cb = (err?: Error | null): void => {
            outcomes.push(err == null ? null : (err as Error & { code: string }).code)
            resolve()
          }
          if (form === 'options') app.decryptSession(value, request, {}, cb)
          else if (form === 'bad-options') app.decryptSession(value, request, { maxAge: 1 } as never, cb)
          else app.decryptSession(value, request, cb)
        })
      }
      return { userId: request.session.get('userId') ?? null, isNew: request.session.isNew }
    })
  })
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'ws' } })) as string
  const value = valueOf(cookie)
  const get = async (headers: Record<string, string>): Promise<unknown> => (await app.inject({ url: '/ws', headers })).json()

  const { result, commands } = await roundTrips(server, async () => await get({ 'x-session': value }))
  t.same(result, { userId: 'ws', isNew: false })
  t.same(commands, { getex: 1 }, 'one GETEX')
  t.same(await get({ 'x-session': value, 'x-form': 'options' }), { userId: 'ws', isNew: false })
  t.same(await get({ 'x-session': value, 'x-form': 'promise' }), { userId: 'ws', isNew: false })
  t.same(outcomes.splice(0), [null, null])
  const id = value.slice(0, value.indexOf('.'))
  const old = id + '.' + createHmac('sha256', OLD_SECRET).update(id).digest('base64url')
  t.same(await get({ 'x-session': old, 'x-form': 'promise' }), { userId: 'ws', isNew: false }, 'a value signed with an older secret')

  t.same(await get({ 'x-session': value.slice(0, -2) + 'AA' }), { userId: null, isNew: true }, 'a bad signature: a new empty session')
  t.same(await get({}), { userId: null, isNew: true }, 'no value at all')
  t.same(outcomes.splice(0), [null, null])

  t.equal((await app.inject({ url: '/ws', headers: { 'x-session': value, 'x-form': 'bad-options' } })).statusCode, 200)
  t.same(outcomes.splice(0), ['SCALEOUT_ERR_INVALID_OPTION'], 'per-session cookie options are refused, not ignored')

  const admin = adminFor(t, server)
  const [key] = await sessionKeys(server)
  await admin.del(key as string)
  await admin.hset(key as string, 'd:n', '1')
  const failed = await app.inject({ url: '/ws', headers: { 'x-session': value } })
  t.same(outcomes.splice(0), ['SCALEOUT_ERR_REDIS_REPLY'], 'a Redis failure is the callback\'s error')
  t.equal(failed.statusCode, 500, 'and using the session then throws it')
})
