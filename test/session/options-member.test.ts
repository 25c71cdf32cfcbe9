import t from 'tap'
import type { FastifyInstance } from 'fastify'
import session from '@scaleout/session'
import { adminFor, appFor, redisFor } from '../helpers/index.js'
import { build, cookieOf, roundTrips, SECRET, setCookies, storedFields } from './setup.js'

const VALUE = /[A-Za-z0-9_-]{51}\.[A-Za-z0-9_-]{43}/.source

function routes (app: FastifyInstance): void {
  // Body: { options, set?, regenerate? ('before' | 'after' the options), touch? }
  app.post('/options', async (request) => {
    const { options, set, regenerate, touch } = request.body as { options: Record<string, unknown>, set?: Record<string, unknown>, regenerate?: 'before' | 'after', touch?: boolean }
    if (regenerate === 'before') await request.session.regenerate(['userId'])
    request.session.options(options as Parameters<typeof request.session.options>[0])
    if (regenerate === 'after') await request.session.regenerate(['userId'])
    for (const [key, value] of Object.entries(set ?? {})) request.session.set(key, value)
    if (touch === true) request.session.touch()
    return { modified: request.session.isModified(), cookie: request.session.cookie.toJSON() }
  })
  app.post('/touch', async (request) => {
    request.session.touch()
    return request.session.cookie.toJSON()
  })
  app.post('/save-options', async (request) => {
    request.session.options(request.body as Record<string, unknown>)
    await request.session.save()
    return { modified: request.session.isModified() }
  })
  app.post('/lazy-login', { config: { session: 'lazy' } }, async (request) => {
    await request.session.regenerate()
    request.session.options({ sameSite: 'strict' })
    request.session.set('userId', 'u1')
    return { ok: true }
  })
  app.get('/off-options', { config: { session: false } }, async (request) => { request.session.options({}) })
}

async function storedOwn (server: Parameters<typeof adminFor>[1], t: Parameters<typeof adminFor>[0]): Promise<Array<string | undefined>> {
  const client = adminFor(t, server)
  const keys = await client.keys('scaleout:sess:{*')
  const texts = keys.length === 0 ? [] : await client.mget(keys)
  return texts.filter((text) => text !== null && !text.startsWith('{"m:n":')).map((text) => storedFields(text)['m:o']).sort()
}

t.test("attributes for one session: its Set-Cookie, on every instance, and no other session's", async (t) => {
  const server = await redisFor(t)
  const one = await build(t, { redis: server.url }, {}, routes)
  const two = await build(t, { redis: server.url }, {}, routes)
  const created = await one.inject({ method: 'POST', url: '/options', payload: { options: { httpOnly: false, sameSite: true, maxAge: '1h' }, set: { n: 1 } } })
  t.match(setCookies(created)[0], new RegExp(`^sessionId=${VALUE}; Max-Age=3600; Path=/; Expires=[^;]+ GMT; SameSite=Strict$`))
  t.same(created.json().cookie, { ...created.json().cookie, originalMaxAge: 3_600_000, httpOnly: false, sameSite: 'strict' })
  t.same(await storedOwn(server, t), ['{"httpOnly":false,"sameSite":"strict","maxAge":3600000}'])
  const admin = adminFor(t, server)
  const [key] = await admin.keys('scaleout:sess:{*')
  const ttl = await admin.pttl(key as string)
  t.ok(ttl > 3_500_000 && ttl <= 3_600_000, 'its maxAge is its idle expiry in Redis')
  const cookie = cookieOf(created) as string

  const other = await one.inject({ method: 'POST', url: '/set', payload: { n: 2 } })
  t.match(setCookies(other)[0], new RegExp(`^sessionId=${VALUE}; Path=/; HttpOnly; SameSite=Lax$`), 'another session keeps the plugin attributes')

  const read = await roundTrips(server, async () => await two.inject({ url: '/get/n', headers: { cookie } }))
  t.same(read.result.json(), { value: 1 })
  t.match(setCookies(read.result)[0], new RegExp(`^sessionId=${VALUE}; Max-Age=3600; Path=/; Expires=[^;]+ GMT; SameSite=Strict$`), 'the other instance sends them')
  t.same(read.commands, { getex: 1, pexpire: 1 })
})

t.test('merged with earlier calls; the same attributes again, or none, write nothing', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url }, {}, routes)
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/options', payload: { options: { sameSite: 'strict' }, set: { n: 1 } } })) as string
  const merged = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/options', headers: { cookie }, payload: { options: { httpOnly: false, maxAge: undefined } } }))
  t.equal(merged.result.json().modified, true)
  t.match(setCookies(merged.result)[0], new RegExp(`^sessionId=${VALUE}; Path=/; SameSite=Strict$`))
  t.same(await storedOwn(server, t), ['{"sameSite":"strict","httpOnly":false}'])
  for (const options of [{}, { httpOnly: false }, { sameSite: 'Strict' }]) {
    const same = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/options', headers: { cookie }, payload: { options } }))
    t.same(same.commands, { getex: 1 }, JSON.stringify(options))
    t.equal(same.result.json().modified, false)
    t.same(setCookies(same.result), [])
  }
  const saved = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/save-options', headers: { cookie }, payload: { partitioned: true } }))
  t.same(saved.result.json(), { modified: false })
  t.equal(saved.trips, 2, 'the read, and the write of the attributes alone')
  t.same(await storedOwn(server, t), ['{"sameSite":"strict","httpOnly":false,"partitioned":true}'])
})

t.test('kept by regenerate(), called before or after options()', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url, cookie: { maxAge: '10m' } }, {}, routes)
  for (const regenerate of ['before', 'after']) {
    await server.flushAll()
    const first = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u1' } })) as string
    const res = await app.inject({ method: 'POST', url: '/options', headers: { cookie: first }, payload: { options: { maxAge: '2h', sameSite: 'strict' }, regenerate } })
    t.match(setCookies(res)[0], new RegExp(`^sessionId=${VALUE}; Max-Age=7200; Path=/; Expires=[^;]+ GMT; HttpOnly; SameSite=Strict$`), regenerate)
    t.not(cookieOf(res), first)
    t.same(await storedOwn(server, t), ['{"maxAge":7200000,"sameSite":"strict"}'])
    // And by a regenerate() in a later request.
    const later = await app.inject({ method: 'POST', url: '/login', headers: { cookie: cookieOf(res) as string }, payload: { userId: 'u1' } })
    t.match(setCookies(later)[0], /; Max-Age=7200; Path=\/; Expires=[^;]+ GMT; HttpOnly; SameSite=Strict$/)
    t.same(await storedOwn(server, t), ['{"maxAge":7200000,"sameSite":"strict"}'])
  }
})

t.test('regenerate() on a session: \'lazy\' route keeps only the attributes set in the request (the old session is not read)', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url }, {}, routes)
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/options', payload: { options: { maxAge: '1h' }, set: { n: 1 } } })) as string
  const res = await app.inject({ method: 'POST', url: '/lazy-login', headers: { cookie } })
  t.match(setCookies(res)[0], new RegExp(`^sessionId=${VALUE}; Path=/; HttpOnly; SameSite=Strict$`))
  t.same(await storedOwn(server, t), ['{"sameSite":"strict"}'])
})

t.test('a new session: attributes alone save nothing; with a value they are created with it', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url }, {}, routes)
  const alone = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/options', payload: { options: { maxAge: '1h' } } }))
  t.same(alone.result.json().modified, false)
  t.equal(alone.trips, 0)
  t.same(setCookies(alone.result), [])
  const touched = await app.inject({ method: 'POST', url: '/options', payload: { options: { maxAge: '1h' }, touch: true } })
  t.same(setCookies(touched), [], 'touch() on a session never saved sends nothing either')
  const created = await app.inject({ method: 'POST', url: '/options', payload: { options: { maxAge: '1h' }, set: { n: 1 } } })
  t.match(setCookies(created)[0], /; Max-Age=3600; /)
})

t.test('Domain and Path, where the __Host- prefix is off: a move clears the old cookie; destroy() clears the one the browser has', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url, cookie: { hostPrefix: false } }, {}, routes)
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  const moved = await app.inject({ method: 'POST', url: '/options', headers: { cookie }, payload: { options: { domain: 'example.com', path: '/app' } } })
  t.equal(setCookies(moved).length, 2)
  t.equal(setCookies(moved)[0], 'sessionId=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax', 'the host-only cookie on / is cleared')
  t.match(setCookies(moved)[1], new RegExp(`^sessionId=${VALUE}; Domain=example.com; Path=/app; HttpOnly; SameSite=Lax$`))
  t.same(moved.json().cookie.domain, 'example.com')
  const touched = await app.inject({ method: 'POST', url: '/touch', headers: { cookie } })
  t.equal(setCookies(touched).length, 1, 'no move: one cookie')
  t.match(setCookies(touched)[0], /; Domain=example.com; Path=\/app; HttpOnly; SameSite=Lax$/)
  const out = await app.inject({ method: 'POST', url: '/logout', headers: { cookie } })
  t.same(setCookies(out), ['sessionId=; Max-Age=0; Domain=example.com; Path=/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax'])
})

t.test('secure: true on plain http with the plugin\'s "auto": Secure, under the name the next request looks for', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url }, {}, routes)
  const res = await app.inject({ method: 'POST', url: '/options', payload: { options: { secure: true, sameSite: 'none' }, set: { n: 1 } } })
  t.match(setCookies(res)[0], new RegExp(`^sessionId=${VALUE}; Path=/; HttpOnly; Secure; SameSite=None$`))
  t.equal(res.json().cookie.secure, true)
})

t.test('an onRequest hook registered before the plugin: its attributes stay on top of the stored ones', async (t) => {
  const server = await redisFor(t)
  const app = appFor(t)
  app.addHook('onRequest', async (request) => {
    if (request.headers['x-strict'] === '1') request.session.options({ sameSite: 'strict' })
  })
  await app.register(session, { secret: SECRET, redis: server.url })
  routes(app)
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/options', payload: { options: { httpOnly: false }, set: { n: 1 } } })) as string
  const res = await app.inject({ method: 'POST', url: '/touch', headers: { cookie, 'x-strict': '1' } })
  t.match(setCookies(res)[0], new RegExp(`^sessionId=${VALUE}; Path=/; SameSite=Strict$`))
  t.same(await storedOwn(server, t), ['{"httpOnly":false,"sameSite":"strict"}'])
  const plain = cookieOf(await app.inject({ method: 'POST', url: '/options', payload: { options: {}, set: { n: 1 } } })) as string
  const hookOnly = await app.inject({ method: 'POST', url: '/options', headers: { cookie: plain, 'x-strict': '1' }, payload: { options: {} } })
  t.match(setCookies(hookOnly)[0], /; SameSite=Strict$/, 'without a Max-Age, changed attributes are sent')
})

t.test('invalid attributes are coded errors naming them', async (t) => {
  const server = await redisFor(t)
  const cases: Array<[Record<string, unknown>, unknown, RegExp]> = [
    [{}, 'lax', /option `session\.options` is invalid: expected an object of cookie attributes/],
    [{}, { maxage: 1000 }, /option `session\.options\.maxage` is invalid: expected no such option: did you mean `maxAge`\?/],
    [{}, { expires: 1 }, /option `session\.options\.expires` is invalid: expected no such option: use `maxAge` \(milliseconds\)/],
    [{}, { sameSite: false }, /option `session\.options\.sameSite` is invalid: expected "lax", "strict" or "none" \(false/],
    [{}, { sameSite: 'none' }, /option `session\.options\.sameSite` is invalid/],
    [{}, { maxAge: 10 }, /option `session\.options\.maxAge` is invalid: expected a duration from 1s to 36500d/],
    [{}, { httpOnly: 'no' }, /option `session\.options\.httpOnly` is invalid/],
    [{}, { domain: 'example.com' }, /option `session\.options\.domain` is invalid: expected nothing: the plugin's cookie carries the __Host- prefix/],
    [{}, { path: '/app' }, /option `session\.options\.path` is invalid: expected "\/": the plugin's cookie carries the __Host- prefix/],
    [{}, { secure: false }, /option `session\.options\.secure` is invalid: expected true or "auto": the plugin's cookie carries the __Host- prefix/],
    [{ secure: true }, { secure: 'auto' }, /option `session\.options\.secure` is invalid: expected true:/],
    [{ hostPrefix: false }, { domain: 'a;b' }, /option `session\.options\.domain` is invalid: expected a host name/]
  ]
  for (const [cookieOption, options, message] of cases) {
    const app = await build(t, { redis: server.url, cookie: cookieOption }, {}, routes)
    const res = await app.inject({ method: 'POST', url: '/options', payload: { options, set: { n: 1 } } })
    t.equal(res.statusCode, 500)
    t.equal(res.json().code, 'SCALEOUT_ERR_INVALID_OPTION')
    t.match(res.json().message, message)
  }
  const allowed = await build(t, { redis: server.url, cookie: { secure: false } }, {}, routes)
  const plain = await allowed.inject({ method: 'POST', url: '/options', payload: { options: { secure: false, path: '/' }, set: { n: 1 } } })
  t.equal(plain.statusCode, 200, 'a plugin cookie that is never Secure never carries the prefix')
  t.equal((await allowed.inject('/off-options')).json().code, 'SCALEOUT_ERR_SESSION_DISABLED')
})
