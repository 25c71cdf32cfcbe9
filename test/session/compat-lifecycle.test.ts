import t from 'tap'
import { adminFor, redisFor } from '../helpers/index.js'
import { build, cookieOf, roundTrips, sessionKeys, setCookies, storedFields, valueOf } from './setup.js'

// What @fastify/session's own suite checks of a session's life (new, stale, regenerated, saved,
// reloaded, failing), driven the way its users write handlers: callback-style handlers that
// reply from inside a callback, and async ones.

const CLEARED = 'sessionId=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax'
const UNAVAILABLE = 'SCALEOUT_ERR_SESSION_UNAVAILABLE'

declare module '@scaleout/session' {
  interface SessionData {
    message?: string
    test?: boolean
  }
}

t.test('session life as @fastify/session users drive it', async (t) => {
  const server = await redisFor(t)
  t.beforeEach(async () => await server.flushAll())
  const admin = adminFor(t, server)
  const callbacks: Array<string | null> = []
  const record = (err?: Error | null): void => { callbacks.push(err == null ? null : (err as Error & { code: string }).code) }

  const app = await build(t, { redis: server.url }, {}, (app) => {
    app.get('/ids', async (request) => {
      const s = request.session
      const seen = { encrypted: s.encryptedSessionId, sessionId: s.sessionId }
      s.set('n', 1)
      return seen
    })
    // Callback-style handlers: the reply goes out from inside the session's callback.
    app.post('/regenerate-cb', (request, reply) => {
      const before = request.session.sessionId
      request.session.set('message', 'hello world')
      request.session.set('n', 5)
      request.session.regenerate(['message'], (err) => {
        record(err)
        reply.send({ before, after: request.session.sessionId })
      })
    })
    app.post('/regenerate-async', async (request) => {
      const before = request.session.sessionId
      request.session.set('message', 'hello world')
      request.session.set('n', 5)
      await request.session.regenerate(['message'])
      return { before, after: request.session.sessionId }
    })
    app.post('/save-reload-cb', (request, reply) => {
      request.session.set('message', 'kept')
      request.session.save((err) => {
        record(err)
        const afterSave = request.session.get('message') ?? null
        request.session.reload((err) => {
          record(err)
          reply.send({ afterSave, afterReload: request.session.get('message') ?? null })
        })
      })
    })
    app.post('/reload-unsaved-cb', (request, reply) => {
      request.session.set('message', 'dropped')
      request.session.reload((err) => {
        record(err)
        reply.send({ afterReload: request.session.get('message') ?? null })
      })
    })
    // save(cb) started and the reply sent at once, without waiting for the callback.
    app.get('/save-and-send', (request, reply) => {
      request.session.set('test', true)
      request.session.save(record)
      reply.send({ ok: true })
    })
    app.post('/paused/:op', async (request) => {
      const { op } = request.params as { op: string }
      request.session.set('n', 2)
      server.pause()
      try {
        if (op === 'save') await request.session.save()
        else if (op === 'reload') await request.session.reload()
        else await request.session.destroy()
        return { rejected: null }
      } catch (err) {
        return { rejected: (err as { code: string }).code }
      } finally {
        server.resume()
      }
    })
    app.post('/paused-regenerate', async (request) => {
      server.pause()
      await request.session.regenerate()
      request.session.set('userId', 'late')
      return { resolved: true }
    })
    app.post('/paused-regenerate-save', async (request) => {
      server.pause()
      await request.session.regenerate()
      try {
        await request.session.save()
        return { rejected: null }
      } catch (err) {
        return { rejected: (err as { code: string }).code }
      } finally {
        server.resume()
      }
    })
  })

  async function stored (): Promise<Record<string, string>> {
    const [key] = await sessionKeys(server)
    return storedFields(await admin.get(key as string) as string)
  }

  t.test('a cookie for a session Redis does not hold, or with a bad signature: set() starts a new session with a new id', async (t) => {
    const gone = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    await server.flushAll()
    const forged = 'sessionId=' + valueOf(gone).slice(0, 52) + 'A'.repeat(43)
    for (const cookie of [gone, forged]) {
      const res = await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: 2 } })
      t.equal(res.statusCode, 200)
      const fresh = cookieOf(res) as string
      t.match(fresh, /^sessionId=[A-Za-z0-9_-]{51}\.[A-Za-z0-9_-]{43}$/)
      t.not(valueOf(fresh).slice(0, 51), valueOf(gone).slice(0, 51), 'a new id, not the one the cookie named')
      t.same((await app.inject({ url: '/data', headers: { cookie: fresh } })).json(), { n: 2 })
    }
    t.equal((await sessionKeys(server)).length, 2, 'only the two new sessions')
    const untouched = await app.inject({ url: '/get/n', headers: { cookie: gone } })
    t.same(setCookies(untouched), [CLEARED], 'read but not set: the stale cookie is cleared, nothing created')
    t.equal((await sessionKeys(server)).length, 2)
  })

  t.test('a JSON body that fails to parse: 400, no Set-Cookie, nothing written', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    for (const headers of [{}, { cookie }]) {
      const res = await app.inject({ method: 'POST', url: '/set', headers: { ...headers, 'content-type': 'application/json' } })
      t.equal(res.statusCode, 400)
      t.equal(res.json().code, 'FST_ERR_CTP_EMPTY_JSON_BODY')
      t.equal(res.headers['set-cookie'], undefined)
    }
    t.equal((await sessionKeys(server)).length, 1)
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 1 }, 'the session is as it was')
  })

  t.test('encryptedSessionId and sessionId of a new, unsaved session are what its cookie then carries', async (t) => {
    const res = await app.inject('/ids')
    const { encrypted, sessionId } = res.json() as { encrypted: string, sessionId: string }
    t.equal(valueOf(cookieOf(res) as string), encrypted)
    t.equal(encrypted.slice(0, encrypted.indexOf('.')), sessionId)
  })

  t.test('regenerate(keys, cb) and await regenerate(keys) keep a value set earlier in the same request', async (t) => {
    callbacks.length = 0
    for (const url of ['/regenerate-cb', '/regenerate-async']) {
      const fresh = await app.inject({ method: 'POST', url })
      const cookie = cookieOf(fresh) as string
      t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { message: 'hello world' }, `${url}, new session`)
      const again = await app.inject({ method: 'POST', url, headers: { cookie } })
      const { before, after } = again.json() as { before: string, after: string }
      t.equal(before, valueOf(cookie).slice(0, 51))
      t.not(after, before, `${url}: a new id`)
      t.equal(valueOf(cookieOf(again) as string).slice(0, 51), after)
      t.same((await app.inject({ url: '/data', headers: { cookie: cookieOf(again) as string } })).json(), { message: 'hello world' })
      t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), {}, 'the previous id no longer has a session')
    }
    t.same(callbacks, [null, null])
  })

  t.test('save(cb) then reload(cb), nested: the saved value survives the reload; unsaved, it does not', async (t) => {
    callbacks.length = 0
    const saved = await app.inject({ method: 'POST', url: '/save-reload-cb' })
    t.same(saved.json(), { afterSave: 'kept', afterReload: 'kept' })
    t.same((await app.inject({ url: '/get/message', headers: { cookie: cookieOf(saved) as string } })).json(), { value: 'kept' })
    const unsaved = await app.inject({ method: 'POST', url: '/reload-unsaved-cb' })
    t.same(unsaved.json(), { afterReload: null })
    t.equal(unsaved.headers['set-cookie'], undefined)
    t.same(callbacks, [null, null, null])
  })

  t.test('save(cb) and reply.send() at once: one session holding only the values, the cookie sent', async (t) => {
    callbacks.length = 0
    const result = await app.inject('/save-and-send')
    t.equal(result.statusCode, 200)
    t.same(result.json(), { ok: true })
    const cookie = cookieOf(result) as string
    t.match(cookie, /^sessionId=/)
    t.same(callbacks, [null])
    const fields = await stored()
    t.same(Object.keys(fields).filter((k) => k.startsWith('d:')), ['d:test'], 'no id, no cookie attributes stored as values')
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { test: true })
  })

  t.test('Redis not answering: save(), reload() and destroy() reject with the coded error, which the handler can catch', async (t) => {
    t.teardown(() => { server.resume() })
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    for (const op of ['save', 'reload', 'destroy']) {
      const res = await app.inject({ method: 'POST', url: `/paused/${op}`, headers: { cookie } })
      t.same(res.json(), { rejected: UNAVAILABLE }, op)
    }
  })

  t.test('Redis not answering: regenerate() resolves (it writes with the save), and the response is the save\'s 503; save() after it rejects', async (t) => {
    t.teardown(() => { server.resume() })
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const res = await app.inject({ method: 'POST', url: '/paused-regenerate', headers: { cookie } })
    server.resume()
    t.equal(res.statusCode, 503)
    t.equal(res.json().code, UNAVAILABLE)
    t.equal(res.headers['set-cookie'], undefined, 'the old cookie is left alone')
    const saved = await app.inject({ method: 'POST', url: '/paused-regenerate-save', headers: { cookie } })
    t.same(saved.json(), { rejected: UNAVAILABLE }, 'a save() after it shows the failure in the handler')
  })
})

t.test('rolling: true, saveUninitialized: false, algorithm: "sha256" without cookie.maxAge: an untouched session sets no cookie; a read re-sends none and writes nothing, the idle expiry slides', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const app = await build(t, { redis: server.url, rolling: true, saveUninitialized: false, algorithm: 'sha256', ttl: '1h' })
  const untouched = await app.inject('/get/n')
  t.equal(untouched.headers['set-cookie'], undefined)
  t.same(await sessionKeys(server), [])
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  const [key] = await sessionKeys(server)
  await admin.pexpire(key as string, 60_000)
  const { result, commands } = await roundTrips(server, async () => await app.inject({ url: '/get/n', headers: { cookie } }))
  t.same(result.json(), { value: 1 })
  t.equal(result.headers['set-cookie'], undefined)
  t.same(commands, { getex: 1 })
  t.ok(await admin.pttl(key as string) > 3_500_000, 'slid back to ttl by the read')
})
