import t from 'tap'
import { adminFor, redisFor } from '../helpers/index.js'
import { build, cookieOf, sessionKeys, setCookies, storedFields, valueOf } from './setup.js'

// A save() a handler does not await (or @fastify/session's save(cb)) is still running when the
// handler goes on. regenerate(), destroy() and reload() used to act at once, and the save's outcome
// then landed on their state: a login after it was taken as saved and never made (the response
// said 200, cleared the cookie, and left the old session as it was), a session the save created
// outlived a destroy(), and a reload() read nothing while the save created the session.

t.test('regenerate(), destroy() and reload() while a save() of the request is still running', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const app = await build(t, { redis: server.url, maxBytes: 64 }, {}, (app) => {
    app.post('/save-then-login', async (request) => {
      request.session.set('n', 2)
      const saving = request.session.save()
      await request.session.regenerate()
      request.session.set('userId', 'u')
      await saving
      return { ok: true }
    })
    app.post('/save-then-destroy', async (request) => {
      request.session.set('userId', 'u')
      const saving = request.session.save()
      await request.session.destroy()
      await saving
      return { ok: true }
    })
    app.post('/save-then-reload', async (request) => {
      request.session.set('n', 5)
      const saving = request.session.save()
      await request.session.reload()
      await saving
      return { n: request.session.get('n') ?? null, isNew: request.session.isNew }
    })
    app.post('/two-saves-then-login', async (request) => {
      request.session.set('n', 2)
      const first = request.session.save()
      request.session.set('m', 3)
      const second = request.session.save()
      await request.session.regenerate(['n', 'm'])
      request.session.set('userId', 'u')
      await Promise.all([first, second])
      return { ok: true }
    })
    app.post('/failed-save-then-login', async (request) => {
      request.session.set('big', 'b'.repeat(100))
      const saving = request.session.save().then(() => null, (err: { code?: string }) => err.code)
      await request.session.regenerate()
      request.session.set('userId', 'u')
      return { failed: await saving }
    })
  })

  t.test('a login after an unawaited save(): the session is regenerated, with the cookie of its new id', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const [old] = await sessionKeys(server) as [string]
    const res = await app.inject({ method: 'POST', url: '/save-then-login', headers: { cookie } })
    t.equal(res.statusCode, 200)
    const fresh = cookieOf(res) as string
    t.ok(fresh !== undefined && valueOf(fresh) !== '' && fresh !== cookie, 'the new id\'s cookie, not a cleared one')
    t.match(await admin.get(old), /^\{"m:n":"[^"]+" *\}$/, 'the old session is replaced by its forwarding record')
    t.same((await app.inject({ url: '/data', headers: { cookie: fresh } })).json(), { userId: 'u' })
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), {}, 'the old cookie names no session')
  })

  t.test('a login after two unawaited saves: it waits for the last, and keeps what both wrote', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const [old] = await sessionKeys(server) as [string]
    const res = await app.inject({ method: 'POST', url: '/two-saves-then-login', headers: { cookie } })
    t.equal(res.statusCode, 200)
    t.match(await admin.get(old), /^\{"m:n":/, 'regenerated')
    t.same((await app.inject({ url: '/data', headers: { cookie: cookieOf(res) as string } })).json(), { n: 2, m: 3, userId: 'u' })
  })

  t.test('a destroy() after an unawaited save() that creates the session: nothing is left in Redis', async (t) => {
    await admin.flushall()
    const res = await app.inject({ method: 'POST', url: '/save-then-destroy' })
    t.equal(res.statusCode, 200)
    t.same(await sessionKeys(server), [], 'the session the save created is destroyed')
    t.same(setCookies(res), [], 'no cookie: the request came without one')
  })

  t.test('a reload() after an unawaited save() that creates the session reads it', async (t) => {
    await admin.flushall()
    const res = await app.inject({ method: 'POST', url: '/save-then-reload' })
    t.same(res.json(), { n: 5, isNew: false })
    const [key] = await sessionKeys(server) as [string]
    t.equal(storedFields(await admin.get(key))['d:n'], '5')
    t.same((await app.inject({ url: '/data', headers: { cookie: cookieOf(res) as string } })).json(), { n: 5 }, 'its cookie names the session saved')
  })

  t.test('a save() that fails leaves regenerate() to act on the session as it was', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const [old] = await sessionKeys(server) as [string]
    const res = await app.inject({ method: 'POST', url: '/failed-save-then-login', headers: { cookie } })
    t.same(res.json(), { failed: 'SCALEOUT_ERR_SESSION_TOO_LARGE' })
    const fresh = cookieOf(res) as string
    t.not(fresh, cookie)
    t.match(await admin.get(old), /^\{"m:n":/, 'regenerated')
    t.same((await app.inject({ url: '/data', headers: { cookie: fresh } })).json(), { userId: 'u' })
  })
})
