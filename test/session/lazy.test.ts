import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { adminFor, redisFor } from '../helpers/index.js'
import { build, cookieOf, roundTrips, sessionKeys } from './setup.js'

// { session: 'lazy' } routes: nothing is read before the handler, so a logout or a login costs
// only its own write; reading values needs an explicit reload().
t.test('lazy routes', async (t) => {
  const server = await redisFor(t)
  t.beforeEach(async () => await server.flushAll())
  const app = await build(t, { redis: server.url }, {}, (app) => {
    const lazy = { config: { session: 'lazy' as const } }
    app.get('/lazy/get', lazy, async (request) => ({ value: request.session.get('n') ?? null }))
    app.get('/lazy/id', lazy, async (request) => ({ id: request.session.id }))
    // Each member that reads or changes values, used before reload().
    const uses: Record<string, (session: FastifyRequest['session']) => unknown> = {
      set: (s) => { s.set('n', 2) },
      delete: (s) => { s.delete('n') },
      has: (s) => s.has('n'),
      data: (s) => s.data(),
      cookie: (s) => s.cookie.maxAge,
      options: (s) => { s.options({ path: '/' }) },
      touch: (s) => { s.touch() }
    }
    app.get('/lazy/use/:member', lazy, async (request) => {
      uses[(request.params as { member: string }).member]?.(request.session)
      return { ok: true }
    })
    app.get('/lazy/reload', lazy, async (request) => {
      await request.session.reload()
      request.session.set('n', (request.session.get('n') ?? 0) + 1)
      return { n: request.session.get('n'), isNew: request.session.isNew }
    })
    app.post('/lazy/keep', lazy, async (request) => {
      await request.session.regenerate(['n'])
      return { ok: true }
    })
    app.post('/lazy/login', lazy, async (request) => {
      await request.session.regenerate()
      request.session.set('userId', 'alice')
      return { ok: true }
    })
    app.post('/lazy/logout', lazy, async (request) => {
      await request.session.destroy()
      return { ok: true }
    })
  })

  t.test('reading before reload() is a coded 500 and costs no round trip', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    for (const url of ['/lazy/get', '/lazy/id']) {
      const { result, trips } = await roundTrips(server, async () => await app.inject({ url, headers: { cookie } }))
      t.equal(result.statusCode, 500)
      t.equal(result.json().code, 'SCALEOUT_ERR_SESSION_NOT_LOADED')
      t.equal(trips, 0)
      t.equal(result.headers['set-cookie'], undefined, 'the cookie is left alone')
    }
  })

  t.test('changing values before reload() is refused the same way, and writes nothing', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const before = await sessionKeys(server)
    for (const member of ['set', 'delete', 'has', 'data', 'cookie', 'options', 'touch']) {
      const { result, trips } = await roundTrips(server, async () => await app.inject({ url: `/lazy/use/${member}`, headers: { cookie } }))
      t.equal(result.statusCode, 500, member)
      t.equal(result.json().code, 'SCALEOUT_ERR_SESSION_NOT_LOADED', member)
      t.equal(trips, 0, `${member}: no round trip`)
      t.equal(result.headers['set-cookie'], undefined, `${member}: the cookie is left alone`)
    }
    t.same(await sessionKeys(server), before, 'no session written')
    t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: 1 }, 'the session is as it was')
  })

  t.test('without a cookie there is nothing to read: the session is a new, empty one', async (t) => {
    const res = await app.inject('/lazy/get')
    t.same(res.json(), { value: null })
  })

  t.test('reload() reads it; changes are then saved as on any route', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const res = await app.inject({ url: '/lazy/reload', headers: { cookie } })
    t.same(res.json(), { n: 2, isNew: false })
    t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: 2 })
  })

  t.test('reload() of a session that is gone clears the cookie', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    await server.flushAll()
    const res = await app.inject({ url: '/lazy/reload', headers: { cookie } })
    t.same(res.json(), { n: 1, isNew: true })
    t.not(cookieOf(res), cookie, 'a new session replaces the gone one')
  })

  t.test('regenerate() keeping keys needs them read first', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const res = await app.inject({ method: 'POST', url: '/lazy/keep', headers: { cookie } })
    t.equal(res.statusCode, 500)
    t.equal(res.json().code, 'SCALEOUT_ERR_SESSION_NOT_LOADED')
    t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: 1 }, 'the session is untouched')
  })

  t.test('logging in over a cookie whose session expired long ago still logs in', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    await server.flushAll()
    const res = await app.inject({ method: 'POST', url: '/lazy/login', headers: { cookie } })
    t.equal(res.statusCode, 200)
    const fresh = cookieOf(res) as string
    t.not(fresh, cookie)
    t.same((await app.inject({ url: '/data', headers: { cookie: fresh } })).json(), { userId: 'alice' })
    t.equal((await sessionKeys(server)).length, 1)
  })

  t.test('logging in replaces the old session', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const fresh = cookieOf(await app.inject({ method: 'POST', url: '/lazy/login', headers: { cookie } })) as string
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), {})
    t.same((await app.inject({ url: '/data', headers: { cookie: fresh } })).json(), { userId: 'alice' })
    t.equal((await sessionKeys(server)).length, 1)
  })

  t.test('a lazy logout leaves an index entry that listFor prunes', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'alice' } })) as string
    const res = await app.inject({ method: 'POST', url: '/lazy/logout', headers: { cookie } })
    t.equal(res.headers['set-cookie'], 'sessionId=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax')
    const client = adminFor(t, server)
    t.equal(await client.zcard('scaleout:sess:user:{alice}'), 1)
    t.same(await app.sessions.listFor('alice'), [])
    t.equal(await client.zcard('scaleout:sess:user:{alice}'), 0)
  })

  t.test('Redis not answering: a lazy logout is a coded 503, not a 500', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    server.pause()
    const res = await app.inject({ method: 'POST', url: '/lazy/logout', headers: { cookie } })
    server.resume()
    t.equal(res.statusCode, 503)
    t.equal(res.json().code, 'SCALEOUT_ERR_SESSION_UNAVAILABLE')
    t.equal(res.headers['set-cookie'], undefined, 'the cookie is kept: the client may retry the logout')
  })
})

// Unread, a session's own cookie attributes are unknown: a lazy logout clears, and a lazy login
// sets, the cookie with the `cookie` option's domain and path (the README says so).
t.test('a lazy logout or login does not know the session\'s own domain and path', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url, cookie: { hostPrefix: false } }, {}, (app) => {
    app.post('/own', async (request) => {
      request.session.set('a', 1)
      request.session.options({ domain: 'example.com', path: '/app' })
      return { ok: true }
    })
    app.post('/lazy/logout', { config: { session: 'lazy' } }, async (request) => {
      await request.session.destroy()
      return { ok: true }
    })
    app.post('/lazy/login', { config: { session: 'lazy' } }, async (request) => {
      await request.session.regenerate()
      request.session.set('userId', 'u')
      return { ok: true }
    })
  })
  const own = async (): Promise<string> => {
    const res = await app.inject({ method: 'POST', url: '/own' })
    t.match(res.headers['set-cookie'], /; Domain=example\.com; Path=\/app;/)
    return cookieOf(res) as string
  }
  const out = await app.inject({ method: 'POST', url: '/lazy/logout', headers: { cookie: await own() } })
  t.match(out.headers['set-cookie'], /^sessionId=; Max-Age=0; Path=\/; Expires=/, 'cleared at Path=/ and no Domain')
  t.notMatch(out.headers['set-cookie'], /Domain|\/app/)
  const login = await app.inject({ method: 'POST', url: '/lazy/login', headers: { cookie: await own() } })
  t.match(login.headers['set-cookie'], /^sessionId=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/, 'the new cookie at the option\'s path, beside the old one')
})
