import t from 'tap'
import type { AddressInfo } from 'node:net'
import { redisFor } from '../helpers/index.js'
import { build, roundTrips } from './setup.js'

// An async handler that calls reply.send() without returning it makes Fastify send twice: once
// from the handler, once (with nothing) when the handler's promise resolves while the first send
// is still saving. Only the first may go out, saved once, and nothing may reject unobserved: on a
// real server an unhandled rejection ends the process. Every callback form runs here too, on a
// real listening server.

t.test('on a real listening server: a double send and every callback form, no unhandled rejection', async (t) => {
  const rejections: unknown[] = []
  const onRejection = (reason: unknown): void => { rejections.push(reason) }
  process.on('unhandledRejection', onRejection)
  t.teardown(() => { process.off('unhandledRejection', onRejection) })

  const server = await redisFor(t)
  const app = await build(t, { redis: server.url }, {}, (app) => {
    app.post('/send-no-return', async (request, reply) => {
      request.session.set('userId', 'sent')
      reply.send({ ok: true })
    })
    app.post('/send-no-return-too-large', async (request, reply) => {
      request.session.set('n', 'x'.repeat(70_000) as never)
      reply.send({ ok: true })
    })
    app.post('/logout-pre', {
      preHandler: (request, _reply, next) => { request.session.destroy(next) }
    }, async () => ({ ok: true }))
    app.post('/cb/:form', (request, reply) => {
      const done = (err: Error | null): void => { reply.send(err ?? { ok: true, userId: request.session.get('userId') ?? null }) }
      const { form } = request.params as { form: string }
      if (form === 'save') {
        request.session.set('n', 1)
        request.session.save(done)
      } else if (form === 'reload') request.session.reload(done)
      else if (form === 'regenerate') request.session.regenerate(done)
      else if (form === 'regenerate-keep') request.session.regenerate(['userId'], done)
      else request.session.destroy(done)
    })
    app.post('/cb-off', { config: { session: false } }, (request, reply) => {
      request.session.destroy((err) => { reply.send(err) })
    })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const post = async (path: string, cookie?: string): Promise<Response> => await fetch(base + path, { method: 'POST', headers: cookie === undefined ? {} : { cookie } })
  const cookieOf = (res: Response): string => (res.headers.get('set-cookie') ?? '').split(';')[0] as string

  const { result: sent, trips, commands } = await roundTrips(server, async () => {
    const res = await post('/send-no-return')
    return { status: res.status, body: await res.text(), cookie: cookieOf(res) }
  })
  t.equal(sent.status, 200)
  t.equal(sent.body, '{"ok":true}', 'the handler\'s response, not the empty second send')
  t.match(sent.cookie, /^sessionId=[A-Za-z0-9_-]{51}\.[A-Za-z0-9_-]{43}$/, 'with its Set-Cookie')
  t.equal(trips, 1, 'one round trip: the save')
  t.equal((commands.eval ?? 0) + (commands.evalsha ?? 0), 1, 'saved once')
  t.equal(commands.set, 1)
  const me = await fetch(base + '/get/userId', { headers: { cookie: sent.cookie } })
  t.same(await me.json(), { value: 'sent' }, 'the login is not lost')

  const large = await post('/send-no-return-too-large', sent.cookie)
  t.equal(large.status, 413, 'a failed save is the error response, sent once')
  t.equal((await large.json()).code, 'SCALEOUT_ERR_SESSION_TOO_LARGE')

  const forms: Record<string, unknown> = {}
  for (const form of ['save', 'reload', 'regenerate-keep', 'regenerate', 'destroy']) {
    const login = await fetch(base + '/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"userId":"cb"}' })
    const res = await post(`/cb/${form}`, cookieOf(login))
    forms[form] = [res.status, await res.json()]
  }
  t.same(forms, {
    save: [200, { ok: true, userId: 'cb' }],
    reload: [200, { ok: true, userId: 'cb' }],
    'regenerate-keep': [200, { ok: true, userId: 'cb' }],
    regenerate: [200, { ok: true, userId: null }],
    destroy: [200, { ok: true, userId: null }]
  })
  const pre = await post('/logout-pre', sent.cookie)
  t.equal(pre.status, 200)
  t.match(pre.headers.get('set-cookie'), /^sessionId=; Max-Age=0/)
  const off = await post('/cb-off')
  t.equal(off.status, 500)
  t.equal((await off.json()).code, 'SCALEOUT_ERR_SESSION_DISABLED')

  // An unhandled rejection is reported after the microtask queue drains.
  await new Promise((resolve) => setImmediate(resolve))
  t.same(rejections, [], 'no unhandled rejection')
})
