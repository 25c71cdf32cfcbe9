import t from 'tap'
import type { FastifyInstance } from 'fastify'
import session from '@scaleout/session'
import { appFor, redisFor } from '../helpers/index.js'
import { build, cookieOf, roundTrips, SECRET, setCookies, valueOf } from './setup.js'

// The cookie attributes @fastify/session's suite checks, set the way its users set them.

const VALUE = '[A-Za-z0-9_-]{51}\\.[A-Za-z0-9_-]{43}'

/** Routes under a cookie path: one that sets a value, the others read it. */
function pathRoutes (app: FastifyInstance): void {
  app.post('/check', async (request) => {
    request.session.set('n', 1)
    return { ok: true }
  })
  for (const url of ['/check', '/check/page1', '/check_page1', '/chck', '/admin']) {
    app.get(url, async (request) => ({ n: request.session.get('n') ?? null }))
  }
}

t.test('cookie attributes', async (t) => {
  const server = await redisFor(t)
  t.beforeEach(async () => await server.flushAll())

  t.test('a TLS socket makes the cookie Secure (with the __Host- prefix); a plain one does not', async (t) => {
    // Registered before the plugin, as a TLS server's socket is encrypted before any hook runs.
    const app = appFor(t)
    app.addHook('onRequest', async (request) => {
      (request.raw.socket as { encrypted?: boolean }).encrypted = request.headers['x-tls'] === '1'
    })
    await app.register(session, { secret: SECRET, redis: server.url })
    app.post('/set', async (request) => {
      request.session.set('n', 1)
      return { ok: true }
    })
    app.get('/get/n', async (request) => ({ value: request.session.get('n') ?? null }))
    const tls = await app.inject({ method: 'POST', url: '/set', headers: { 'x-tls': '1' }, payload: { n: 1 } })
    t.match(tls.headers['set-cookie'], new RegExp(`^__Host-sessionId=${VALUE}; Path=/; HttpOnly; Secure; SameSite=Lax$`))
    t.same((await app.inject({ url: '/get/n', headers: { 'x-tls': '1', cookie: cookieOf(tls) as string } })).json(), { value: 1 })
    const plain = await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })
    t.match(plain.headers['set-cookie'], new RegExp(`^sessionId=${VALUE}; Path=/; HttpOnly; SameSite=Lax$`))
    const untouched = await app.inject({ url: '/get/n', headers: { 'x-tls': '1' } })
    t.equal(untouched.headers['set-cookie'], undefined, 'an untouched new session sets no cookie, over TLS or not')
  })

  t.test('secure: false over https (a trusted proxy): no Secure attribute, no __Host- prefix', async (t) => {
    const app = await build(t, { redis: server.url, cookie: { secure: false } }, { trustProxy: true })
    const res = await app.inject({ method: 'POST', url: '/set', headers: { 'x-forwarded-proto': 'https' }, payload: { n: 1 } })
    t.match(res.headers['set-cookie'], new RegExp(`^sessionId=${VALUE}; Path=/; HttpOnly; SameSite=Lax$`))
    const http = await app.inject({ method: 'POST', url: '/set', headers: { 'x-forwarded-proto': 'http' }, payload: { n: 1 } })
    t.match(http.headers['set-cookie'], new RegExp(`^sessionId=${VALUE}; Path=/; HttpOnly; SameSite=Lax$`))
  })

  t.test('sameSite: true is SameSite=Strict', async (t) => {
    const app = await build(t, { redis: server.url, cookie: { sameSite: true } })
    const res = await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })
    t.match(res.headers['set-cookie'], new RegExp(`^sessionId=${VALUE}; Path=/; HttpOnly; SameSite=Strict$`))
  })

  t.test('only another cookie in the request: no Set-Cookie, no Redis call', async (t) => {
    const app = await build(t, { redis: server.url })
    const { result, trips } = await roundTrips(server, async () => await app.inject({ url: '/get/n', headers: { cookie: 'someOtherCookie=foobar' } }))
    t.same(result.json(), { value: null })
    t.equal(result.headers['set-cookie'], undefined)
    t.equal(trips, 0)
  })

  t.test('cookieName with a dot and cookiePrefix "s:": the value is sent and read as is; percent-encoded it is not ours', async (t) => {
    const app = await build(t, { redis: server.url, cookieName: 'connect.sid', cookiePrefix: 's:' })
    const res = await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })
    t.match(res.headers['set-cookie'], new RegExp(`^connect\\.sid=s:${VALUE}; Path=/; HttpOnly; SameSite=Lax$`))
    const cookie = cookieOf(res) as string
    t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: 1 })
    const encoded = await app.inject({ url: '/get/n', headers: { cookie: 'connect.sid=s%3A' + valueOf(cookie).slice(2) } })
    t.same(encoded.json(), { value: null })
    t.same(setCookies(encoded), ['connect.sid=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax'])
  })

  t.test('cookie.path "/check": the session is set there and read below it, a query string changes nothing', async (t) => {
    const app = await build(t, { redis: server.url, cookie: { path: '/check' } }, {}, pathRoutes)
    const res = await app.inject({ method: 'POST', url: '/check', query: { foo: 'bar' } })
    t.match(res.headers['set-cookie'], new RegExp(`^sessionId=${VALUE}; Path=/check; HttpOnly; SameSite=Lax$`))
    const cookie = cookieOf(res) as string
    for (const url of ['/check', '/check/page1', '/check?foo=bar']) {
      t.same((await app.inject({ url, headers: { cookie } })).json(), { n: 1 }, url)
    }
  })

  t.test('cookie.path "/check/" (a trailing slash): Path=/check/, read below it', async (t) => {
    const app = await build(t, { redis: server.url, cookie: { path: '/check/' } }, {}, (app) => {
      app.post('/check/index', async (request) => {
        request.session.set('n', 1)
        return { ok: true }
      })
      app.get('/check/page1', async (request) => ({ n: request.session.get('n') ?? null }))
    })
    const res = await app.inject({ method: 'POST', url: '/check/index' })
    t.match(res.headers['set-cookie'], new RegExp(`^sessionId=${VALUE}; Path=/check/; HttpOnly; SameSite=Lax$`))
    t.same((await app.inject({ url: '/check/page1', headers: { cookie: cookieOf(res) as string } })).json(), { n: 1 })
  })

  t.test('cookie.path is the cookie\'s attribute, not a route filter: a client that sends the cookie outside it is served its session', async (t) => {
    const app = await build(t, { redis: server.url, cookie: { path: '/check' } }, {}, pathRoutes)
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/check' })) as string
    for (const url of ['/check_page1', '/chck']) {
      t.same((await app.inject({ url, headers: { cookie } })).json(), { n: 1 }, url)
    }
  })

  t.test('cookie.path "/admin": a stale cookie is cleared with Path=/admin', async (t) => {
    const app = await build(t, { redis: server.url, cookie: { path: '/admin' } }, {}, pathRoutes)
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/check' })) as string
    await server.flushAll()
    const res = await app.inject({ url: '/admin', headers: { cookie } })
    t.same(res.json(), { n: null })
    t.same(setCookies(res), ['sessionId=; Max-Age=0; Path=/admin; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax'])
  })

  t.test('cookie.path off the request\'s path, session untouched: no Set-Cookie', async (t) => {
    const app = await build(t, { redis: server.url, cookie: { path: '/path/' } })
    const res = await app.inject('/get/n')
    t.equal(res.statusCode, 200)
    t.equal(res.headers['set-cookie'], undefined)
  })
})
