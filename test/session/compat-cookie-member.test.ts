import t from 'tap'
import type { FastifyInstance, FastifyRequest, LightMyRequestResponse } from 'fastify'
import { adminFor, redisFor, sleep } from '../helpers/index.js'
import { build, cookieOf, setCookies, valueOf } from './setup.js'

// `request.session.cookie` and `request.session.options()` as @fastify/session's suite uses them
// (see fastify-session-coverage.md): the members its users read, per-session attributes that win
// over the plugin's, touch(), and a session loaded by fastify.decryptSession.

const VALUE = /[A-Za-z0-9_-]{51}\.[A-Za-z0-9_-]{43}/.source
const HOUR = 3_600_000
const MEMBERS = ['expires', 'maxAge', 'originalMaxAge', 'path', 'domain', 'secure', 'sameSite', 'httpOnly', 'partitioned']

function routes (app: FastifyInstance): void {
  // Body: { data?, options? }: stores data (as @fastify/session's "Custom options" does), then
  // applies the per-session options.
  app.post('/custom', async (request) => {
    const { data, options } = request.body as { data?: unknown, options?: Record<string, unknown> }
    if (data !== undefined) request.session.set('data', data)
    if (options !== undefined) request.session.options(options)
    const { cookie } = request.session
    return { expires: cookie.expires?.getTime() ?? null, originalMaxAge: cookie.originalMaxAge, secure: cookie.secure }
  })
  app.get('/custom', async (request, reply) => {
    const data = request.session.get('data')
    if (data === undefined) return await reply.code(404).send()
    const { cookie } = request.session
    return { data, expires: cookie.expires?.getTime() ?? null, originalMaxAge: cookie.originalMaxAge }
  })
  app.get('/members', async (request) => {
    const { cookie } = request.session
    return Object.fromEntries(MEMBERS.map((name) => [name, name in cookie]))
  })
  // Body: { set? }: what cookie.expires says before and after touch().
  app.post('/touch', async (request) => {
    const { set } = request.body as { set?: number }
    if (set !== undefined) request.session.set('n', set)
    const before = request.session.cookie.expires?.getTime() ?? null
    await sleep(5)
    request.session.touch()
    return { before, after: request.session.cookie.expires?.getTime() ?? null }
  })
  app.get('/decrypt', async (request) => {
    const holder = {} as FastifyRequest
    await app.decryptSession(request.headers['x-session'] as string, holder)
    const { cookie } = holder.session
    return { data: holder.session.get('data') ?? null, originalMaxAge: cookie.originalMaxAge, expires: cookie.expires?.getTime() ?? null }
  })
}

/** The Expires attribute of the response's session cookie, as sent. */
function expiresOf (res: LightMyRequestResponse): string | undefined {
  return /; Expires=([^;]+)/.exec(setCookies(res)[0] ?? '')?.[1]
}

t.test('cookie members', async (t) => {
  const server = await redisFor(t)
  t.beforeEach(async () => await server.flushAll())

  t.test('request.session.cookie has every member @fastify/session\'s Cookie has, on a new and on a stored session', async (t) => {
    const app = await build(t, { redis: server.url }, {}, routes)
    const all = Object.fromEntries(MEMBERS.map((name) => [name, true]))
    t.same((await app.inject('/members')).json(), all)
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/custom', payload: { data: 1 } })) as string
    t.same((await app.inject({ url: '/members', headers: { cookie } })).json(), all)
  })

  t.test('secure: false: cookie.secure is false and no Secure is sent, over https too; "auto" over https: true', async (t) => {
    const off = await build(t, { redis: server.url, cookie: { secure: false } }, { trustProxy: true }, routes)
    for (const proto of ['http', 'https']) {
      const res = await off.inject({ method: 'POST', url: '/custom', headers: { 'x-forwarded-proto': proto }, payload: { data: 1 } })
      t.same(res.json(), { expires: null, originalMaxAge: null, secure: false }, proto)
      t.match(setCookies(res)[0], new RegExp(`^sessionId=${VALUE}; Path=/; HttpOnly; SameSite=Lax$`), proto)
    }
    const auto = await build(t, { redis: server.url }, { trustProxy: true }, routes)
    const res = await auto.inject({ method: 'POST', url: '/custom', headers: { 'x-forwarded-proto': 'https' }, payload: { data: 1 } })
    t.equal(res.json().secure, true)
    t.match(setCookies(res)[0], new RegExp(`^__Host-sessionId=${VALUE}; Path=/; HttpOnly; Secure; SameSite=Lax$`))
  })

  t.test('options({ maxAge }) with a value: Expires and originalMaxAge are its own, on this request and the next, over the plugin\'s maxAge or none', async (t) => {
    for (const cookieOption of [{}, { maxAge: '2h' }]) {
      const label = JSON.stringify(cookieOption)
      const app = await build(t, { redis: server.url, cookie: cookieOption }, {}, routes)
      const before = Date.now()
      const created = await app.inject({ method: 'POST', url: '/custom', payload: { data: { some: 'data' }, options: { maxAge: HOUR } } })
      const after = Date.now()
      const body = created.json()
      t.equal(body.originalMaxAge, HOUR, label)
      t.ok(body.expires >= before + HOUR && body.expires <= after + HOUR, `${label}: expires is now + 1 h`)
      t.match(setCookies(created)[0], new RegExp(`^sessionId=${VALUE}; Max-Age=3600; Path=/; Expires=${new Date(body.expires).toUTCString()}; HttpOnly; SameSite=Lax$`), label)
      const cookie = cookieOf(created) as string

      // The next request sets nothing: the stored session's own maxAge wins over the plugin's.
      const readBefore = Date.now()
      const read = await app.inject({ url: '/custom', headers: { cookie } })
      const readAfter = Date.now()
      const readBody = read.json()
      t.same({ ...readBody, expires: 0 }, { data: { some: 'data' }, expires: 0, originalMaxAge: HOUR }, label)
      t.ok(readBody.expires >= readBefore + HOUR && readBody.expires <= readAfter + HOUR, `${label}: rolled to now + 1 h`)
      t.match(setCookies(read)[0], new RegExp(`^sessionId=${VALUE}; Max-Age=3600; Path=/; Expires=${new Date(readBody.expires).toUTCString()}; HttpOnly; SameSite=Lax$`), label)
      t.equal(expiresOf(read), new Date(readBody.expires).toUTCString())
      const admin = adminFor(t, server)
      const [key] = await admin.keys('scaleout:sess:{*')
      const ttl = await admin.pttl(key as string)
      t.ok(ttl > HOUR - 60_000 && ttl <= HOUR, `${label}: Redis keeps it for its own hour`)
      await server.flushAll()
    }
  })

  t.test('touch() moves cookie.expires on and sends it; without a maxAge expires stays null', async (t) => {
    const timed = await build(t, { redis: server.url, cookie: { maxAge: '1h' } }, {}, routes)
    const cookie = cookieOf(await timed.inject({ method: 'POST', url: '/custom', payload: { data: 1 } })) as string
    const touched = await timed.inject({ method: 'POST', url: '/touch', headers: { cookie }, payload: {} })
    const { before, after } = touched.json()
    t.ok(after > before, 'a later expiry after touch()')
    t.equal(expiresOf(touched), new Date(after).toUTCString(), 'the Expires sent is the moved one')

    const plain = await build(t, { redis: server.url }, {}, routes)
    const fresh = await plain.inject({ method: 'POST', url: '/touch', payload: {} })
    t.same(fresh.json(), { before: null, after: null }, 'a new session')
    t.same(setCookies(fresh), [], 'touch() alone creates nothing')
    const created = await plain.inject({ method: 'POST', url: '/touch', payload: { set: 1 } })
    t.same(created.json(), { before: null, after: null }, 'a new session with a value')
    t.match(setCookies(created)[0], new RegExp(`^sessionId=${VALUE}; Path=/; HttpOnly; SameSite=Lax$`))
    const stored = cookieOf(created) as string
    for (const payload of [{}, { set: 2 }]) {
      const res = await plain.inject({ method: 'POST', url: '/touch', headers: { cookie: stored }, payload })
      t.same(res.json(), { before: null, after: null }, `a stored session ${JSON.stringify(payload)}`)
      t.same(setCookies(res), [`${stored}; Path=/; HttpOnly; SameSite=Lax`], 'touch() re-sends it without Expires')
    }
    t.same((await plain.inject({ url: '/get/n', headers: { cookie: stored } })).json(), { value: 2 })
  })

  t.test('options({ secure: false }) under a plugin secure: true: no Secure where the __Host- prefix is off; refused where it is on', async (t) => {
    const off = await build(t, { redis: server.url, cookie: { secure: true, hostPrefix: false } }, {}, routes)
    const res = await off.inject({ method: 'POST', url: '/custom', payload: { data: 1, options: { secure: false } } })
    t.equal(res.json().secure, false)
    t.match(setCookies(res)[0], new RegExp(`^sessionId=${VALUE}; Path=/; HttpOnly; SameSite=Lax$`))
    t.same((await off.inject({ url: '/custom', headers: { cookie: cookieOf(res) as string } })).json().data, 1)

    const prefixed = await build(t, { redis: server.url, cookie: { secure: true } }, {}, routes)
    const refused = await prefixed.inject({ method: 'POST', url: '/custom', payload: { options: { secure: false } } })
    t.equal(refused.statusCode, 500)
    t.equal(refused.json().code, 'SCALEOUT_ERR_INVALID_OPTION')
    t.equal(refused.json().message, '@scaleout/session: option `session.options.secure` is invalid: expected true: the plugin\'s cookie carries the __Host- prefix, which browsers only accept host-only (no Domain), on Path=/ and Secure; register with `cookie.hostPrefix: false` to allow it')
    t.same(setCookies(refused), [])
  })

  t.test('options({ secure: true }) under a plugin secure: false, on plain http: the Secure cookie is sent, under the plugin\'s name', async (t) => {
    const app = await build(t, { redis: server.url, cookie: { secure: false } }, {}, routes)
    const res = await app.inject({ method: 'POST', url: '/custom', payload: { data: 1, options: { secure: true } } })
    t.equal(res.json().secure, true)
    t.match(setCookies(res)[0], new RegExp(`^sessionId=${VALUE}; Path=/; HttpOnly; Secure; SameSite=Lax$`))
    t.same((await app.inject({ url: '/custom', headers: { cookie: cookieOf(res) as string } })).json().data, 1, 'the next request finds it')
  })

  t.test('fastify.decryptSession on a plain object: cookie.originalMaxAge and expires are null without a maxAge, its own with one', async (t) => {
    const app = await build(t, { redis: server.url }, {}, routes)
    const plain = cookieOf(await app.inject({ method: 'POST', url: '/custom', payload: { data: 'plain' } })) as string
    t.same((await app.inject({ url: '/decrypt', headers: { 'x-session': valueOf(plain) } })).json(), { data: 'plain', originalMaxAge: null, expires: null })
    const own = cookieOf(await app.inject({ method: 'POST', url: '/custom', payload: { data: 'own', options: { maxAge: HOUR } } })) as string
    const before = Date.now()
    const body = (await app.inject({ url: '/decrypt', headers: { 'x-session': valueOf(own) } })).json()
    t.same({ ...body, expires: 0 }, { data: 'own', originalMaxAge: HOUR, expires: 0 })
    t.ok(body.expires >= before + HOUR && body.expires <= Date.now() + HOUR)
  })
})
