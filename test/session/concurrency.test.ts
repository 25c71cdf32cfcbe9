import t from 'tap'
import { redisFor } from '../helpers/index.js'
import { build, cookieOf, sessionKeys } from './setup.js'

const CLEARED = 'sessionId=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax'

t.test('concurrency', async (t) => {
  const server = await redisFor(t)
  t.beforeEach(async () => await server.flushAll())

  // A gate lets a test hold one request after its session loaded while another request runs.
  let release: () => void = () => {}
  let arrived: () => void = () => {}
  const app = await build(t, { redis: server.url }, {}, (app) => {
    app.post('/slow-set', async (request) => {
      request.session.get('n')
      await new Promise<void>((resolve) => { release = resolve; arrived() })
      request.session.set('late', true)
      return { ok: true }
    })
    app.post('/slow-options', async (request) => {
      request.session.get('n')
      await new Promise<void>((resolve) => { release = resolve; arrived() })
      request.session.options({ sameSite: 'strict' })
      return { ok: true }
    })
    app.post('/slow-regenerate', async (request) => {
      request.session.get('n')
      await new Promise<void>((resolve) => { release = resolve; arrived() })
      await request.session.regenerate(['n'])
      return { ok: true }
    })
  })

  t.test('50 parallel requests each setting its own key of one session: all 50 persist', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { base: 0 } })) as string
    const responses = await Promise.all(Array.from({ length: 50 }, async (_, i) =>
      await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { [`k${i}`]: i } })))
    t.same(responses.map((r) => r.statusCode), Array(50).fill(200))
    const expected: Record<string, number> = { base: 0 }
    for (let i = 0; i < 50; i++) expected[`k${i}`] = i
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), expected)
  })

  for (const route of ['/slow-set', '/slow-regenerate']) {
    t.test(`a ${route} that finishes after a logout does not bring the session back`, async (t) => {
      const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'racer' } })) as string
      const waiting = new Promise<void>((resolve) => { arrived = resolve })
      const slow = app.inject({ method: 'POST', url: route, headers: { cookie } })
      await waiting
      const logout = await app.inject({ method: 'POST', url: '/logout', headers: { cookie } })
      t.equal(logout.headers['set-cookie'], CLEARED)
      release()
      const late = await slow
      t.equal(late.statusCode, 200)
      t.equal(late.headers['set-cookie'], CLEARED, 'the late response clears the cookie too')
      t.same(await sessionKeys(server), [], 'nothing resurrected')
      t.same(await app.sessions.listFor('racer'), [])
      t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), {})
    })
  }

  // It cleared the cookie, and with it the new id the login had just given the browser: logged out.
  t.test('a request that finishes after another request\'s login (regenerate()) leaves the new cookie alone', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const waiting = new Promise<void>((resolve) => { arrived = resolve })
    const slow = app.inject({ method: 'POST', url: '/slow-set', headers: { cookie } })
    await waiting
    const login = await app.inject({ method: 'POST', url: '/login', headers: { cookie }, payload: { userId: 'mover' } })
    const loggedIn = cookieOf(login) as string
    t.not(loggedIn, cookie)
    release()
    const late = await slow
    t.equal(late.statusCode, 200)
    t.equal(late.headers['set-cookie'], undefined, 'no Set-Cookie: the browser keeps the login\'s')
    t.same((await app.inject({ url: '/data', headers: { cookie: loggedIn } })).json(), { userId: 'mover' }, 'logged in; the late change was dropped')
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), {}, 'the old id reads as no session')
  })

  // A login, or a change of the session's own cookie attributes (both merge in a script, not a
  // plain APPEND), that lands after another request's regenerate() drops its change; it used to
  // clear the cookie too, deleting the login's new id when its response came second.
  for (const route of ['/slow-regenerate', '/slow-options']) {
    t.test(`a ${route} that finishes after another request's login drops its change and leaves the new cookie alone`, async (t) => {
      const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
      const waiting = new Promise<void>((resolve) => { arrived = resolve })
      const slow = app.inject({ method: 'POST', url: route, headers: { cookie } })
      await waiting
      const loggedIn = cookieOf(await app.inject({ method: 'POST', url: '/login', headers: { cookie }, payload: { userId: 'mover' } })) as string
      release()
      const late = await slow
      t.same([late.statusCode, late.headers['set-cookie']], [200, undefined])
      t.same((await app.inject({ url: '/data', headers: { cookie: loggedIn } })).json(), { userId: 'mover' }, 'the login\'s session is untouched')
      t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), {}, 'the old id reads as no session')
      t.equal((await sessionKeys(server)).length, 1, 'only the login\'s session: nothing recreated')
    })
  }

  t.test('a request that finishes after "log out everywhere" does not bring the session back', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'everywhere' } })) as string
    const waiting = new Promise<void>((resolve) => { arrived = resolve })
    const slow = app.inject({ method: 'POST', url: '/slow-set', headers: { cookie } })
    await waiting
    t.equal(await app.sessions.destroyAllFor('everywhere'), 1)
    release()
    t.equal((await slow).statusCode, 200)
    t.same(await sessionKeys(server), [])
  })
})

// A set() to the value this request read writes nothing (see the README's set()), so it does not
// undo what a parallel request wrote to that key since; a different value does, as the last write.
t.test('a set() back to the value this request read does not undo a parallel change; a different value wins', async (t) => {
  const server = await redisFor(t)
  let release: () => void = () => {}
  let arrived: () => void = () => {}
  const app = await build(t, { redis: server.url }, {}, (app) => {
    app.post('/slow-mode', async (request) => {
      request.session.get('mode')
      await new Promise<void>((resolve) => { release = resolve; arrived() })
      request.session.set('mode', (request.body as { mode: string }).mode)
      return { ok: true }
    })
  })
  for (const [late, stored] of [['user', 'sudo'], ['admin', 'admin']]) {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { mode: 'user' } })) as string
    const waiting = new Promise<void>((resolve) => { arrived = resolve })
    const slow = app.inject({ method: 'POST', url: '/slow-mode', headers: { cookie }, payload: { mode: late } })
    await waiting
    await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { mode: 'sudo' } })
    release()
    t.equal((await slow).statusCode, 200)
    t.same((await app.inject({ url: '/get/mode', headers: { cookie } })).json(), { value: stored }, `the late request set ${late}`)
  }
})

// What the README says is left: with cookie.maxAge every response that read the session re-sends
// its cookie (rolling), and one that read it before another request's login and answers after it
// gives the browser the old id back.
t.test('with cookie.maxAge, a read that finishes after another request\'s login re-sends the old id', async (t) => {
  const server = await redisFor(t)
  let release: () => void = () => {}
  let arrived: () => void = () => {}
  const app = await build(t, { redis: server.url, cookie: { maxAge: '1h' } }, {}, (app) => {
    app.get('/slow-read', async (request) => {
      const n = request.session.get('n')
      await new Promise<void>((resolve) => { release = resolve; arrived() })
      return { n }
    })
  })
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  const waiting = new Promise<void>((resolve) => { arrived = resolve })
  const slow = app.inject({ url: '/slow-read', headers: { cookie } })
  await waiting
  const loggedIn = cookieOf(await app.inject({ method: 'POST', url: '/login', headers: { cookie }, payload: { userId: 'u' } })) as string
  release()
  const late = await slow
  t.equal(cookieOf(late), cookie, 'the old id, re-sent')
  t.not(cookieOf(late), loggedIn)
  t.same((await app.inject({ url: '/data', headers: { cookie: cookieOf(late) as string } })).json(), {}, 'which reads as no session')
})

// Regression: a request that carried the old cookie and read the session just after another
// request's login (a page polling /me while the user logs in) found the forwarding record the
// login's regenerate() left, read it as no session and cleared the cookie; its response, arriving
// after the login's, deleted the new id the browser had just been given, logging the user out.
t.test('a read with the old cookie after another request\'s login sends no cookie, so the browser keeps the new id', async (t) => {
  const server = await redisFor(t)
  for (const cookieOption of [{}, { maxAge: '1h' }]) {
    const app = await build(t, { redis: server.url, cookie: cookieOption })
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const loggedIn = cookieOf(await app.inject({ method: 'POST', url: '/login', headers: { cookie }, payload: { userId: 'poller', keep: ['n'] } })) as string
    const late = await app.inject({ url: '/get/n', headers: { cookie } })
    t.equal(late.statusCode, 200)
    t.same(late.json(), { value: null }, 'the old id reads as no session')
    t.same(late.headers['set-cookie'], undefined, `no Set-Cookie (cookie option ${JSON.stringify(cookieOption)})`)
    t.same((await app.inject({ url: '/data', headers: { cookie: loggedIn } })).json(), { n: 1, userId: 'poller' })
    // A value set with the old cookie starts a new session, with a cookie of its own.
    const fresh = cookieOf(await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: 2 } })) as string
    t.not(fresh, cookie)
    t.not(fresh, loggedIn)
    t.same((await app.inject({ url: '/data', headers: { cookie: fresh } })).json(), { n: 2 })
    t.same((await app.inject({ url: '/data', headers: { cookie: loggedIn } })).json(), { n: 1, userId: 'poller' }, 'the login\'s session is untouched')
    // A session that ended, rather than moved, still has its cookie cleared.
    await app.inject({ method: 'POST', url: '/logout', headers: { cookie: loggedIn } })
    t.equal((await app.inject({ url: '/get/n', headers: { cookie: loggedIn } })).headers['set-cookie'], CLEARED)
  }
})
