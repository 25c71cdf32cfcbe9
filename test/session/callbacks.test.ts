import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { adminFor, redisFor } from '../helpers/index.js'
import { build, cookieOf, sessionKeys, storedFields } from './setup.js'

// @fastify/session's methods take a Node-style callback; code ported from it (its README's
// `request.session.destroy(next)` in a preHandler) must work unchanged.

const CLEARED = 'sessionId=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax'

/** Runs a callback form, recording every call of the callback and what the method returned. */
async function viaCallback (start: (cb: (err: Error | null) => void) => unknown): Promise<{ returned: unknown, calls: Array<string | null> }> {
  const calls: Array<string | null> = []
  let returned: unknown
  await new Promise<void>((resolve) => {
    returned = start((err) => {
      calls.push(err === null ? null : (err as Error & { code: string }).code)
      // A second call would be recorded before the test reads `calls`.
      setImmediate(resolve)
    })
  })
  return { returned, calls }
}

t.test('callback forms of destroy, save, reload and regenerate', async (t) => {
  const server = await redisFor(t)
  t.beforeEach(async () => await server.flushAll())

  const outcomes: Array<{ returned: unknown, calls: Array<string | null> }> = []
  const app = await build(t, { redis: server.url }, {}, (app) => {
    app.post('/logout-pre', {
      preHandler: (request, _reply, next) => { request.session.destroy(next) }
    }, async (request) => ({ isNew: request.session.isNew }))
    const run = (form: (request: FastifyRequest) => (cb: (err: Error | null) => void) => unknown) => async (request: FastifyRequest) => {
      const outcome = await viaCallback(form(request))
      outcomes.push(outcome)
      return { value: request.session.get('userId') ?? null, kept: request.session.get('n') ?? null, id: request.session.id }
    }
    app.post('/cb/save', run((request) => {
      request.session.set('userId', 'saved')
      return (cb) => request.session.save(cb)
    }))
    app.post('/cb/reload', run((request) => {
      request.session.set('userId', 'unsaved')
      return (cb) => request.session.reload(cb)
    }))
    app.post('/cb/regenerate', run((request) => (cb) => request.session.regenerate(cb)))
    app.post('/cb/regenerate-keep', run((request) => (cb) => request.session.regenerate(['n'], cb)))
    app.post('/cb/destroy', run((request) => (cb) => request.session.destroy(cb)))
    app.post('/cb/too-large', run((request) => {
      request.session.set('n', 'x'.repeat(70_000) as never)
      return (cb) => request.session.save(cb)
    }))
    app.post('/cb/not-a-function', async (request) => {
      request.session.destroy(42 as never)
    })
  })
  const admin = adminFor(t, server)

  async function login (): Promise<string> {
    const res = await app.inject({ method: 'POST', url: '/login', payload: { userId: 'ann' } })
    const cookie = cookieOf(res) as string
    await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: 7 } })
    return cookie
  }

  t.test('destroy(next) in a preHandler, as in @fastify/session\'s README', async (t) => {
    const cookie = await login()
    const res = await app.inject({ method: 'POST', url: '/logout-pre', headers: { cookie } })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { isNew: true })
    t.equal(res.headers['set-cookie'], CLEARED)
    t.same(await sessionKeys(server), [])
  })

  t.test('save(cb): written before the callback runs, callback once with null, nothing returned', async (t) => {
    outcomes.length = 0
    const cookie = await login()
    const res = await app.inject({ method: 'POST', url: '/cb/save', headers: { cookie } })
    t.same(res.json().value, 'saved')
    t.same(outcomes, [{ returned: undefined, calls: [null] }])
    const [key] = await sessionKeys(server)
    t.equal(storedFields(await admin.get(key as string) as string)['d:userId'], '"saved"')
  })

  t.test('reload(cb): unsaved changes dropped, the stored values read again', async (t) => {
    outcomes.length = 0
    const cookie = await login()
    const res = await app.inject({ method: 'POST', url: '/cb/reload', headers: { cookie } })
    t.same(res.json().value, 'ann')
    t.same(outcomes, [{ returned: undefined, calls: [null] }])
  })

  t.test('regenerate(cb) and regenerate(keys, cb): a new id; only the listed keys kept', async (t) => {
    outcomes.length = 0
    const cookie = await login()
    const id = cookie.slice('sessionId='.length, 'sessionId='.length + 51)
    const plain = await app.inject({ method: 'POST', url: '/cb/regenerate', headers: { cookie } })
    t.same([plain.json().value, plain.json().kept], [null, null])
    t.not(plain.json().id, id)
    const again = await login()
    const keep = await app.inject({ method: 'POST', url: '/cb/regenerate-keep', headers: { cookie: again } })
    t.same([keep.json().value, keep.json().kept], [null, 7])
    t.same(outcomes, [{ returned: undefined, calls: [null] }, { returned: undefined, calls: [null] }])
    t.equal((await sessionKeys(server)).length, 2, 'each regenerated session replaced its old one')
  })

  t.test('destroy(cb)', async (t) => {
    outcomes.length = 0
    const cookie = await login()
    const res = await app.inject({ method: 'POST', url: '/cb/destroy', headers: { cookie } })
    t.same(res.json().value, null)
    t.equal(res.headers['set-cookie'], CLEARED)
    t.same(outcomes, [{ returned: undefined, calls: [null] }])
    t.same(await sessionKeys(server), [])
  })

  t.test('a failure goes to the callback, once, as the coded error', async (t) => {
    outcomes.length = 0
    const cookie = await login()
    const res = await app.inject({ method: 'POST', url: '/cb/too-large', headers: { cookie } })
    t.equal(res.statusCode, 413, 'the response\'s own save fails the same way')
    t.same(outcomes, [{ returned: undefined, calls: ['SCALEOUT_ERR_SESSION_TOO_LARGE'] }])
  })

  t.test('a callback that is not a function is a coded error', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/cb/not-a-function' })
    t.equal(res.statusCode, 500)
    t.equal(res.json().code, 'SCALEOUT_ERR_SESSION_CALLBACK')
  })
})

t.test('callback forms on a session: false route and on an unread lazy session report their coded error to the callback', async (t) => {
  const server = await redisFor(t)
  const seen: Array<string | null> = []
  const app = await build(t, { redis: server.url }, {}, (app) => {
    app.post('/off', { config: { session: false } }, async (request) => {
      for (const form of [
        (cb: (err: Error | null) => void) => request.session.destroy(cb),
        (cb: (err: Error | null) => void) => request.session.save(cb),
        (cb: (err: Error | null) => void) => request.session.reload(cb),
        (cb: (err: Error | null) => void) => request.session.regenerate(cb),
        (cb: (err: Error | null) => void) => request.session.regenerate(['n'], cb)
      ]) seen.push(...(await viaCallback(form)).calls)
      await t.rejects(request.session.save(), { code: 'SCALEOUT_ERR_SESSION_DISABLED' }, 'the promise form still rejects')
      return { ok: true }
    })
    app.post('/lazy', { config: { session: 'lazy' } }, async (request) => {
      seen.push(...(await viaCallback((cb) => request.session.regenerate(['n'], cb))).calls)
      seen.push(...(await viaCallback((cb) => request.session.reload(cb))).calls)
      return { n: request.session.get('n') ?? null }
    })
  })
  t.equal((await app.inject({ method: 'POST', url: '/off' })).statusCode, 200)
  t.same(seen.splice(0), Array(5).fill('SCALEOUT_ERR_SESSION_DISABLED'))
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 3 } })) as string
  const lazy = await app.inject({ method: 'POST', url: '/lazy', headers: { cookie } })
  t.same(lazy.json(), { n: 3 })
  t.same(seen, ['SCALEOUT_ERR_SESSION_NOT_LOADED', null])
})
