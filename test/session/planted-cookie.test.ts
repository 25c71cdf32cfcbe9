import t from 'tap'
import { redisFor } from '../helpers/index.js'
import { build, cookieOf, valueOf } from './setup.js'

// A sibling subdomain can set a cookie the browser sends ahead of ours. Its value may contain a
// space followed by what looks like our cookie; that must never be read as our cookie.

t.test('a session id planted inside another cookie\'s value is not served', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url })

  const victim = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'victim' } })) as string
  const attacker = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'attacker' } })) as string
  t.not(valueOf(victim), valueOf(attacker))

  const planted = await app.inject({ url: '/get/userId', headers: { cookie: `foo=x ${attacker}; ${victim}` } })
  t.equal(planted.statusCode, 200)
  t.same(planted.json(), { value: 'victim' }, 'the real cookie wins over one planted inside another value')

  const junk = await app.inject({ url: '/get/userId', headers: { cookie: `a=x ${victim.split('=')[0] as string}=junk; ${victim}` } })
  t.same(junk.json(), { value: 'victim' }, 'junk planted inside another value does not log the user out')
  t.equal(junk.headers['set-cookie'], undefined, 'nor is the cookie cleared')

  const long = await app.inject({ url: '/get/userId', headers: { cookie: `pad=${'x'.repeat(12_000)}; ${victim}` } })
  t.same(long.json(), { value: 'victim' }, 'a long Cookie header is still read')
})

// Without the __Host- prefix (plain HTTP, or hostPrefix: false), a sibling subdomain or a page on
// plain HTTP can set a cookie of our name on a longer path: the browser sends it first, and the
// Set-Cookie that would clear it cannot reach its path. Read first-only, it logged the user out on
// every request. The first of the cookies of our name that verifies is the session.
t.test('a garbage cookie of the session\'s name sent ahead of the real one does not log the user out', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url, cookie: { secure: false } })
  const victim = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'victim' } })) as string
  const name = victim.split('=')[0] as string
  t.equal(name, 'sessionId', 'no __Host- prefix on plain HTTP')
  const forged = `${name}=s%3Aforged.${'A'.repeat(43)}`

  for (const planted of [`${name}=junk`, forged, `${name}=junk; ${name}=more`]) {
    const res = await app.inject({ url: '/get/userId', headers: { cookie: `${planted}; ${victim}` } })
    t.same(res.json(), { value: 'victim' }, `${planted} ahead: still the victim's session`)
    t.equal(res.headers['set-cookie'], undefined, 'and no cookie cleared')
  }

  // Only the first four of the name are judged: a header cannot make one request verify any number.
  const many = Array.from({ length: 4 }, (_, i) => `${name}=junk${i}`).join('; ')
  const beyond = await app.inject({ url: '/get/userId', headers: { cookie: `${many}; ${victim}` } })
  t.same(beyond.json(), { value: null }, 'the fifth is not read')
  t.match(beyond.headers['set-cookie'], /^sessionId=;/, 'the first, unverified, is cleared as before')

  // Nothing verifies: as before, no session, and the cookie is cleared.
  const none = await app.inject({ url: '/get/userId', headers: { cookie: `${name}=junk; ${name}=junk2` } })
  t.same(none.json(), { value: null })
  t.match(none.headers['set-cookie'], /^sessionId=;/)
})

// The first that verifies wins, so without the prefix a cookie that verifies, planted ahead of the
// user's, is the session: an attacker's own, signed when they logged in (a login CSRF). A browser
// takes a __Host- cookie only from the host itself, so with the prefix a planted cookie can only
// have the bare name, which the plugin does not read.
t.test('a planted cookie that verifies is the session without the __Host- prefix, and ignored with it', async (t) => {
  const server = await redisFor(t)

  const plain = await build(t, { redis: server.url, cookie: { secure: false } })
  const victim = cookieOf(await plain.inject({ method: 'POST', url: '/login', payload: { userId: 'victim' } })) as string
  const attacker = cookieOf(await plain.inject({ method: 'POST', url: '/login', payload: { userId: 'attacker' } })) as string
  const taken = await plain.inject({ url: '/get/userId', headers: { cookie: `${attacker}; ${victim}` } })
  t.same(taken.json(), { value: 'attacker' }, 'no prefix: the planted session is served')

  const https = { 'x-forwarded-proto': 'https' }
  const prefixed = await build(t, { redis: server.url }, { trustProxy: true })
  const hostVictim = cookieOf(await prefixed.inject({ method: 'POST', url: '/login', headers: https, payload: { userId: 'victim' } })) as string
  const hostAttacker = cookieOf(await prefixed.inject({ method: 'POST', url: '/login', headers: https, payload: { userId: 'attacker' } })) as string
  t.match(hostVictim, /^__Host-sessionId=/)
  // What a sibling subdomain can set: the attacker's signed value under the bare name.
  const planted = `sessionId=${valueOf(hostAttacker)}`
  const kept = await prefixed.inject({ url: '/get/userId', headers: { ...https, cookie: `${planted}; ${hostVictim}` } })
  t.same(kept.json(), { value: 'victim' }, 'with the prefix: the user\'s own session')
  t.equal(kept.headers['set-cookie'], undefined)
})
