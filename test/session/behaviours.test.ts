import t from 'tap'
import session from '@scaleout/session'
import { adminFor, appFor, redisFor, waitUntil } from '../helpers/index.js'
import { build, cookieOf, roundTrips, SECRET, sessionKeys, setCookies, valueOf, storedFields } from './setup.js'

// Behaviour @fastify/session's users rely on.

t.test('set() with an unchanged value writes nothing', async (t) => {
  const server = await redisFor(t)
  const modified: unknown[] = []
  const app = await build(t, { redis: server.url }, {}, (app) => {
    app.post('/same', async (request) => {
      const { key, value } = request.body as { key: string, value: unknown }
      const before = request.session.isModified()
      if (value === null) request.session.delete(key)
      else request.session.set(key, value)
      modified.push([before, request.session.isModified()])
      return { ok: true }
    })
  })
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1, obj: { a: [1, 2] } } })) as string
  for (const [key, value] of [['n', 1], ['obj', { a: [1, 2] }], ['absent', null]]) {
    const { result, commands } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/same', headers: { cookie }, payload: { key, value } }))
    t.equal(result.statusCode, 200)
    t.same(commands, { getex: 1 }, `${String(key)}: only the read`)
  }
  const changed = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/same', headers: { cookie }, payload: { key: 'n', value: 2 } }))
  t.equal(changed.trips, 2, 'a different value is written')
  t.same(modified, [[false, false], [false, false], [false, false], [false, true]], 'isModified() says the same')
  t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 2, obj: { a: [1, 2] } })
})

t.test('a user id set from "7" to 7 is written, and leaves the user index alone (the same user)', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url })
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: '7' } })) as string
  const { commands } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { userId: 7 } }))
  t.equal(commands.append, 1, 'the value changed: written')
  t.equal(commands.zadd, undefined, 'the index is the same user\'s')
  t.same((await app.inject({ url: '/get/userId', headers: { cookie } })).json(), { value: 7 })
  t.equal((await app.sessions.listFor(7)).length, 1)
})

t.test('with cookie.maxAge: an active user\'s cookie is refreshed; a cookie replayed after its Expires is dead on the server', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url, cookie: { maxAge: '1s' } })
  const admin = adminFor(t, server)
  const login = await app.inject({ method: 'POST', url: '/login', payload: { userId: 'roll' } })
  const cookie = cookieOf(login) as string
  t.match(setCookies(login)[0], /; Max-Age=1; Path=\/; Expires=/)
  const { result: read, trips } = await roundTrips(server, async () => await app.inject({ url: '/get/userId', headers: { cookie } }))
  t.same(read.json(), { value: 'roll' })
  t.equal(trips, 1, 'refreshing the cookie costs Redis nothing')
  t.equal(cookieOf(read), cookie, 'the same cookie, sent again')
  t.match(setCookies(read)[0], /; Max-Age=1; Path=\/; Expires=/, 'with a new Expires')
  const [key] = await sessionKeys(server)
  const pttl = await admin.pttl(key as string)
  t.ok(pttl > 0 && pttl <= 1000, 'the server-side idle timeout is no longer than the cookie lives')
  await waitUntil('the session to expire with its cookie', async () => await admin.exists(key as string) === 0)
  const replay = await app.inject({ url: '/get/userId', headers: { cookie } })
  t.same(replay.json(), { value: null }, 'a replayed expired cookie is no session')
  t.match(setCookies(replay)[0], /^sessionId=; Max-Age=0/)

  const noCookie = await app.inject({ url: '/get/userId' })
  t.same(setCookies(noCookie), [], 'no session, no cookie to refresh')
})

t.test('an onRequest hook registered before the plugin keeps what it set when the request has a session', async (t) => {
  const server = await redisFor(t)
  const app = appFor(t)
  app.addHook('onRequest', async (request) => {
    const n = request.headers['x-n']
    if (typeof n === 'string') request.session.set('n', Number(n))
  })
  await app.register(session, { secret: SECRET, redis: server.url })
  app.post('/login', async (request) => {
    request.session.set('userId', 'early')
    return { ok: true }
  })
  app.get('/both', async (request) => ({ userId: request.session.get('userId') ?? null, n: request.session.get('n') ?? null }))
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login' })) as string
  const res = await app.inject({ url: '/both', headers: { cookie, 'x-n': '42' } })
  t.same(res.json(), { userId: 'early', n: 42 })
  const admin = adminFor(t, server)
  const [key] = await sessionKeys(server)
  const fields = storedFields(await admin.get(key as string) as string)
  t.same([fields['d:userId'], fields['d:n']], ['"early"', '42'], 'both saved in the one session')
  t.equal((await sessionKeys(server)).length, 1)
})

// Regression: such a hook ran before the session was read, so its regenerate() changed nothing
// Redis knew (the read then put the old id back: the values it set after logging in landed in the
// pre-login session, a fixation) and its destroy() ended nothing (the read then restored the session).
t.test('regenerate(), destroy() and save() in an onRequest hook registered before the plugin act on the request\'s session', async (t) => {
  const server = await redisFor(t)
  const app = appFor(t)
  app.addHook('onRequest', async (request) => {
    const user = request.headers['x-sso-user']
    if (typeof user === 'string') {
      await request.session.regenerate(['v'])
      request.session.set('userId', user)
    }
    if (request.headers['x-logout'] !== undefined) await request.session.destroy()
    if (request.headers['x-save'] !== undefined) {
      request.session.set('n', 5)
      await request.session.save()
    }
  })
  await app.register(session, { secret: SECRET, redis: server.url })
  app.post('/visit', async (request) => {
    request.session.set('v', 1)
    return { id: request.session.id }
  })
  app.get('/me', async (request) => ({ id: request.session.id, data: request.session.data() }))
  await app.ready()

  const visit = await app.inject({ method: 'POST', url: '/visit' })
  const before = cookieOf(visit) as string
  const login = await roundTrips(server, async () => await app.inject({ url: '/me', headers: { cookie: before, 'x-sso-user': 'alice' } }))
  t.equal(login.trips, 2, 'the read the plugin makes anyway, then the swap')
  const after = cookieOf(login.result) as string
  t.ok(after !== undefined && after !== before, 'a new cookie')
  t.not(login.result.json().id, visit.json().id, 'a new id')
  t.same(login.result.json().data, { v: 1, userId: 'alice' }, 'the kept key and the one set after')
  t.same((await app.inject({ url: '/me', headers: { cookie: before } })).json().data, {}, 'the old cookie no longer works')
  t.same((await app.inject({ url: '/me', headers: { cookie: after } })).json().data, { v: 1, userId: 'alice' })
  t.equal((await app.sessions.listFor('alice')).length, 1)

  const saved = await app.inject({ url: '/me', headers: { cookie: after, 'x-save': '1' } })
  t.same(saved.json().data, { v: 1, userId: 'alice', n: 5 }, 'save() wrote to the request\'s session')
  t.same(setCookies(saved), [], 'same id: no new cookie')
  t.equal((await sessionKeys(server)).length, 1, 'no other session created')

  const logout = await app.inject({ url: '/me', headers: { cookie: after, 'x-logout': '1' } })
  t.same(logout.json().data, {})
  t.match(setCookies(logout)[0], /^sessionId=; Max-Age=0/, 'the cookie is cleared')
  t.same((await app.inject({ url: '/me', headers: { cookie: after } })).json().data, {}, 'the session is over')
  t.same(await sessionKeys(server), [])
})

t.test('a key or a user id with a lone surrogate is refused, never stored under U+FFFD', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url })
  for (const key of ['a\uD800', '\uDC00b', 'x\uDBFF\uDBFFy']) {
    const res = await app.inject({ method: 'POST', url: '/set', payload: `{"${JSON.stringify(key).slice(1, -1)}":1}`, headers: { 'content-type': 'application/json' } })
    t.equal(res.statusCode, 500)
    t.equal(res.json().code, 'SCALEOUT_ERR_SESSION_KEY')
  }
  const pair = await app.inject({ method: 'POST', url: '/set', payload: { 'ok\uD83D\uDE00': 1 } })
  t.equal(pair.statusCode, 200, 'a surrogate pair is a character like any other')
  const login = await app.inject({ method: 'POST', url: '/login', payload: '{"userId":"bob\\ud800"}', headers: { 'content-type': 'application/json' } })
  t.equal(login.json().code, 'SCALEOUT_ERR_SESSION_USER_ID')
  await t.rejects(app.sessions.listFor('bob\uD800'), { code: 'SCALEOUT_ERR_SESSION_USER_ID' })
  t.equal((await sessionKeys(server)).length, 1, 'only the session with the well-formed key')
  t.same((await app.inject({ url: '/data', headers: { cookie: cookieOf(pair) as string } })).json(), { 'ok\uD83D\uDE00': 1 })
})

t.test('members: encryptedSessionId is the cookie value, isSaved() after a save, cookiePrefix before the value', async (t) => {
  const server = await redisFor(t)
  const seen: unknown[] = []
  const app = await build(t, { redis: server.url, cookiePrefix: 's:' }, {}, (app) => {
    app.post('/members', async (request) => {
      const s = request.session
      const before = s.isSaved()
      s.set('n', 1)
      await s.save()
      seen.push([before, s.isSaved(), s.isModified()])
      return { encrypted: s.encryptedSessionId }
    })
  })
  const res = await app.inject({ method: 'POST', url: '/members' })
  const cookie = cookieOf(res) as string
  t.equal(valueOf(cookie), 's:' + (res.json().encrypted as string))
  t.same(seen, [[false, true, false]])
  t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: 1 }, 'read back through the prefix')
  const bare = await app.inject({ url: '/get/n', headers: { cookie: 'sessionId=' + (res.json().encrypted as string) } })
  t.same(bare.json(), { value: null }, 'a value without the prefix is not ours')
  t.match(setCookies(bare)[0], /^sessionId=; Max-Age=0/)
})

t.test('changes made before a handler fails are saved with its error response, as @fastify/session saves them', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url }, {}, (app) => {
    app.post('/set-then-fail', async (request) => {
      request.session.set('n', 7)
      throw new Error('handler failed')
    })
  })
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  const failed = await app.inject({ method: 'POST', url: '/set-then-fail', headers: { cookie } })
  t.equal(failed.statusCode, 500)
  t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 7 })
  const fresh = await app.inject({ method: 'POST', url: '/set-then-fail' })
  t.equal(fresh.statusCode, 500)
  t.ok(cookieOf(fresh), 'a new session is created, and its cookie sent, with the error response too')
})

// What the README says of reads in such a hook: the request's session is not read yet.
t.test('reads in an onRequest hook registered before the plugin see a new, empty session; the handler sees the request\'s', async (t) => {
  const server = await redisFor(t)
  const app = appFor(t)
  const early: unknown[] = []
  app.addHook('onRequest', async (request) => {
    if (request.headers['x-peek'] !== undefined) early.push([request.session.get('v'), request.session.isNew])
  })
  await app.register(session, { secret: SECRET, redis: server.url })
  app.post('/visit', async (request) => {
    request.session.set('v', 1)
    return { ok: true }
  })
  app.get('/me', async (request) => ({ v: request.session.get('v'), isNew: request.session.isNew }))
  await app.ready()
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/visit' })) as string
  const me = await app.inject({ url: '/me', headers: { cookie, 'x-peek': '1' } })
  t.same(early, [[undefined, true]], 'the hook: nothing read yet')
  t.same(me.json(), { v: 1, isNew: false }, 'the handler: the request\'s session')
})
