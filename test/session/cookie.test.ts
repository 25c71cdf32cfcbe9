import t from 'tap'
import { createHmac } from 'node:crypto'
import { redisFor } from '../helpers/index.js'
import { cachedVerifications, newId, sign, verify } from '../../plugins/session/src/signing.js'
import { build, cookieOf, OLD_SECRET, roundTrips, SECRET, setCookies, valueOf } from './setup.js'

const VALUE = /[A-Za-z0-9_-]{51}\.[A-Za-z0-9_-]{43}/.source

t.test('ids and signatures', async (t) => {
  const id = newId()
  t.match(id, /^[A-Za-z0-9_-]{51}$/)
  t.equal(newId(id).slice(0, 8), id.slice(0, 8))
  t.not(newId(id).slice(8), id.slice(8))
  const value = sign(id, [SECRET])
  t.equal(value, id + '.' + createHmac('sha256', SECRET).update(id).digest('base64url'))
  t.same(verify(value, [SECRET]), { id, resign: false })
  t.same(verify(value, [OLD_SECRET, SECRET]), { id, resign: true })
  t.equal(verify(value, [OLD_SECRET]), null)
  t.equal(verify(value + 'A', [SECRET]), null)
  t.equal(verify(value.slice(0, -1) + 'é', [SECRET]), null)
  t.equal(verify(value.replace('.', '!'), [SECRET]), null)
  t.equal(verify('', [SECRET]), null)
})

t.test('the cache of verified cookies stays bounded and never admits a bad signature', async (t) => {
  const secrets = [SECRET]
  const forged = newId() + '.' + 'A'.repeat(43)
  t.equal(verify(forged, secrets), null)
  t.equal(verify(forged, secrets), null, 'failures are not cached as successes')
  let ok = 0
  for (let i = 0; i < 10_050; i++) if (verify(sign(newId(), secrets), secrets) !== null) ok++
  t.equal(ok, 10_050)
  t.ok(cachedVerifications() <= 10_000)
  const value = sign(newId(), secrets)
  t.same(verify(value, secrets), verify(value, secrets))
})

t.test('cookie attributes, prefixes and secret rotation', async (t) => {
  const server = await redisFor(t)

  t.test('defaults over http: host-only, HttpOnly, SameSite=Lax, Path=/, browser-session, not Secure', async (t) => {
    const app = await build(t, { redis: server.url })
    const res = await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })
    t.match(res.headers['set-cookie'], new RegExp(`^sessionId=${VALUE}; Path=/; HttpOnly; SameSite=Lax$`))
  })

  t.test("secure 'auto' behind a TLS-terminating proxy: Secure and the __Host- prefix", async (t) => {
    const app = await build(t, { redis: server.url }, { trustProxy: true })
    const https = { 'x-forwarded-proto': 'https' }
    const res = await app.inject({ method: 'POST', url: '/set', headers: https, payload: { n: 1 } })
    t.match(res.headers['set-cookie'], new RegExp(`^__Host-sessionId=${VALUE}; Path=/; HttpOnly; Secure; SameSite=Lax$`))
    const cookie = cookieOf(res) as string
    t.same((await app.inject({ url: '/get/n', headers: { ...https, cookie } })).json(), { value: 1 })
    const plain = await roundTrips(server, async () => await app.inject({ url: '/get/n', headers: { ...https, cookie: 'sessionId=' + valueOf(cookie) } }))
    t.same(plain.result.json(), { value: null }, 'over https only the prefixed name counts')
    t.equal(plain.trips, 0)
  })

  t.test('explicit attributes', async (t) => {
    const app = await build(t, {
      redis: server.url,
      cookieName: 'sid',
      // A Max-Age is capped at the session's maxLifetime (7 days by default, see cookie-lifetime.test.ts).
      maxLifetime: '30d',
      cookie: { secure: true, domain: 'example.com', sameSite: 'strict', maxAge: '30d', httpOnly: false, partitioned: true }
    })
    const res = await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })
    const header = res.headers['set-cookie'] as string
    t.match(header, new RegExp(`^sid=${VALUE}; Max-Age=2592000; Domain=example.com; Path=/; Expires=[^;]+ GMT; Secure; Partitioned; SameSite=Strict$`))
    const expires = Date.parse(/Expires=([^;]+)/.exec(header)?.[1] as string)
    t.ok(Math.abs(expires - (Date.now() + 30 * 86_400_000)) < 60_000)
    const cleared = await app.inject({ method: 'POST', url: '/logout', headers: { cookie: cookieOf(res) as string } })
    t.equal(cleared.headers['set-cookie'], 'sid=; Max-Age=0; Domain=example.com; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; Partitioned; SameSite=Strict')
  })

  t.test('no __Host- prefix off the root path or when disabled; SameSite=None when Secure', async (t) => {
    const app = await build(t, { redis: server.url, cookie: { secure: true, path: '/app' } })
    const unprefixed = await build(t, { redis: server.url, cookie: { secure: true, hostPrefix: false, sameSite: 'none' } })
    t.match((await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })).headers['set-cookie'], /^sessionId=[^;]+; Path=\/app; HttpOnly; Secure; SameSite=Lax$/)
    t.match((await unprefixed.inject({ method: 'POST', url: '/set', payload: { n: 1 } })).headers['set-cookie'], /^sessionId=[^;]+; Path=\/; HttpOnly; Secure; SameSite=None$/)
  })

  t.test('secret rotation: a cookie signed with an older secret stays logged in and is re-signed', async (t) => {
    const before = await build(t, { redis: server.url, secret: OLD_SECRET })
    const rotated = await build(t, { redis: server.url, secret: [SECRET, OLD_SECRET] })
    const retired = await build(t, { redis: server.url, secret: [SECRET] })
    const old = cookieOf(await before.inject({ method: 'POST', url: '/login', payload: { userId: 'rot' } })) as string
    const res = await rotated.inject({ url: '/get/userId', headers: { cookie: old } })
    t.same(res.json(), { value: 'rot' })
    const resigned = cookieOf(res) as string
    t.not(resigned, old)
    t.equal(resigned.slice(0, 61), old.slice(0, 61), 'same session id, new signature')
    t.same(verify(valueOf(resigned), [SECRET]), { id: valueOf(old).slice(0, 51), resign: false })
    const again = await rotated.inject({ url: '/get/userId', headers: { cookie: resigned } })
    t.equal(again.headers['set-cookie'], undefined, 're-signed once, then quiet')
    t.same((await retired.inject({ url: '/get/userId', headers: { cookie: resigned } })).json(), { value: 'rot' })
    const dropped = await roundTrips(server, async () => await retired.inject({ url: '/get/userId', headers: { cookie: old } }))
    t.same(dropped.result.json(), { value: null }, 'once a secret is retired its cookies are no longer accepted')
    t.equal(dropped.trips, 0)
    t.same(setCookies(dropped.result), ['sessionId=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax'])
  })
})
