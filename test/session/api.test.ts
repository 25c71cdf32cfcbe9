import t from 'tap'
import session from '@scaleout/session'
import { adminFor, appFor, redisFor } from '../helpers/index.js'
import { build, cookieOf, SECRET, sessionKeys, storedFields } from './setup.js'

t.test('request.session API', async (t) => {
  const server = await redisFor(t)
  t.beforeEach(async () => await server.flushAll())

  t.test('two instances sharing one Redis: log in on A, read on B, log out on B, A is anonymous', async (t) => {
    const a = await build(t, { redis: server.url })
    const b = await build(t, { redis: server.url })
    const login = await a.inject({ method: 'POST', url: '/login', payload: { userId: 'alice' } })
    t.equal(login.statusCode, 200)
    const cookie = cookieOf(login) as string
    t.match(cookie, /^sessionId=[A-Za-z0-9_-]{51}\.[A-Za-z0-9_-]{43}$/)
    t.same((await b.inject({ url: '/get/userId', headers: { cookie } })).json(), { value: 'alice' })
    const logout = await b.inject({ method: 'POST', url: '/logout', headers: { cookie } })
    t.equal(logout.headers['set-cookie'], 'sessionId=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax')
    const after = await a.inject({ url: '/get/userId', headers: { cookie } })
    t.same(after.json(), { value: null })
    t.equal(after.headers['set-cookie'], 'sessionId=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax', 'a stale cookie is cleared')
    t.same(await sessionKeys(server), [])
  })

  t.test('saved before the headers go out: a redirect right after login lands on a logged-in page (other instance)', async (t) => {
    const a = await build(t, { redis: server.url }, {}, (app) => {
      app.post('/login-redirect', async (request, reply) => {
        await request.session.regenerate()
        request.session.set('userId', 'redirected')
        return reply.redirect('/get/userId', 303)
      })
    })
    const b = await build(t, { redis: server.url })
    const res = await a.inject({ method: 'POST', url: '/login-redirect' })
    t.equal(res.statusCode, 303)
    t.equal(res.headers.location, '/get/userId')
    t.same((await b.inject({ url: res.headers.location, headers: { cookie: cookieOf(res) as string } })).json(), { value: 'redirected' })
  })

  t.test('get, set, delete, has, data, id, sessionId, isNew', async (t) => {
    const seen: unknown[] = []
    const app = await build(t, { redis: server.url }, {}, (app) => {
      app.post('/ops', async (request) => {
        const s = request.session
        seen.push({ isNew: s.isNew, has: s.has('n'), n: s.get('n') })
        s.set('n', (s.get('n') ?? 0) + 1)
        s.set('obj', { nested: [1, 2] })
        s.delete('gone')
        s.delete('never-there')
        s.set('nothing', undefined)
        t.equal(s.sessionId, s.id)
        return { id: s.id, data: s.data(), has: s.has('obj') }
      })
    })
    const first = await app.inject({ method: 'POST', url: '/ops' })
    const cookie = cookieOf(first) as string
    t.equal(first.json().id, cookie.slice('sessionId='.length, 'sessionId='.length + 51))
    t.same(first.json().data, { n: 1, obj: { nested: [1, 2] } })
    await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { gone: 'soon' } })
    const second = await app.inject({ method: 'POST', url: '/ops', headers: { cookie } })
    t.equal(second.headers['set-cookie'], undefined)
    t.same(second.json().data, { n: 2, obj: { nested: [1, 2] } })
    t.same(seen, [{ isNew: true, has: false, n: undefined }, { isNew: false, has: true, n: 1 }])
    const client = adminFor(t, server)
    const [key] = await sessionKeys(server)
    const fields = storedFields(await client.get(key as string) as string)
    t.same(Object.keys(fields).sort(), ['d:n', 'd:obj', 'm:c', 'm:d', 'm:ip', 'm:ua'])
    t.equal(fields['d:n'], '2')
    t.equal(fields['d:obj'], '{"nested":[1,2]}')
    t.equal(fields['m:ip'], '127.0.0.1')
    t.equal(Number(fields['m:d']) - Number(fields['m:c']), 7 * 86_400_000, 'absolute deadline: 7 days after creation')
  })

  t.test('request.session shows only its public API: the hooks\' lifecycle methods are not reachable by name', async (t) => {
    const app = await build(t, { redis: server.url }, {}, (app) => {
      app.get('/names', async (request) => {
        const names = new Set<string>()
        for (let o: object | null = request.session; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
          for (const name of Object.getOwnPropertyNames(o)) names.add(name)
        }
        const old = ['load', 'defer', 'finish', 'idle', 'rejectCookie', 'commit'].filter((name) => name in request.session)
        return { names: [...names].sort(), keys: Object.keys(request.session), old }
      })
    })
    const expected = { names: ['constructor', 'cookie', 'data', 'delete', 'destroy', 'encryptedSessionId', 'get', 'has', 'id', 'isModified', 'isNew', 'isSaved', 'options', 'regenerate', 'reload', 'save', 'sessionId', 'set', 'touch'], keys: [], old: [] }
    t.same((await app.inject('/names')).json(), expected, 'a new session')
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    t.same((await app.inject({ url: '/names', headers: { cookie } })).json(), expected, 'a loaded session')
  })

  t.test('prefix is the Redis key prefix of sessions and user indexes', async (t) => {
    const app = await build(t, { redis: server.url, prefix: 'app:sess:' })
    await app.inject({ method: 'POST', url: '/login', payload: { userId: 'pre' } })
    const admin = adminFor(t, server)
    t.same((await admin.keys('*')).map((key) => key.replace(/\{[A-Za-z0-9_-]{8}\}:.*/, '{tag}:id')).sort(), ['app:sess:user:{pre}', 'app:sess:{tag}:id'])
  })

  t.test('a handler that only reads a new session creates nothing', async (t) => {
    const app = await build(t, { redis: server.url })
    const res = await app.inject('/get/n')
    t.equal(res.headers['set-cookie'], undefined)
    t.same(await sessionKeys(server), [])
  })

  t.test('data() is a copy, and a __proto__ key is refused', async (t) => {
    const app = await build(t, { redis: server.url }, {}, (app) => {
      app.get('/copy', async (request) => {
        request.session.set('list', [1])
        const copy = request.session.data() as { list: number[] }
        copy.list.push(2)
        return { copy: copy.list, kept: request.session.get('list') }
      })
      app.get('/proto', async (request) => {
        request.session.set('__proto__', { polluted: true })
        const copy = request.session.data()
        return { own: Object.hasOwn(copy, '__proto__'), polluted: ({} as Record<string, unknown>).polluted ?? null, protoOfCopy: Object.getPrototypeOf(copy) === Object.prototype }
      })
    })
    t.same((await app.inject('/copy')).json(), { copy: [1, 2], kept: [1] })
    const proto = await app.inject('/proto')
    t.equal(proto.statusCode, 500)
    t.equal(proto.json().code, 'SCALEOUT_ERR_SESSION_KEY')
    t.equal(({} as Record<string, unknown>).polluted, undefined)
  })

  t.test('regenerate keeps only the listed keys, deletes the old session, keeps the user index right', async (t) => {
    const app = await build(t, { redis: server.url })
    const anon = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: ['book'], theme: 'dark' } })) as string
    const [oldKey] = await sessionKeys(server)
    const admin = adminFor(t, server)
    const anonFields = storedFields(await admin.get(oldKey as string) as string)
    const login = await app.inject({ method: 'POST', url: '/login', headers: { cookie: anon }, payload: { userId: 7, keep: ['cart'] } })
    const cookie = cookieOf(login) as string
    t.not(cookie, anon)
    t.equal(cookie.slice(10, 18), anon.slice(10, 18), 'the slot tag is kept, so old and new share a Cluster slot')
    const keys = await sessionKeys(server)
    t.equal(keys.length, 1)
    t.not(keys[0], oldKey)
    const before = storedFields(await admin.get(oldKey as string) as string)
    const after = storedFields(await admin.get(keys[0] as string) as string)
    const newKey = keys[0] as string
    t.same(before, { 'm:n': newKey.slice(newKey.indexOf('}:') + 2) }, 'the old key only forwards to the new one (its part after the slot tag)')
    t.equal((await admin.get(oldKey as string) as string).length, 64, 'a record is one block long, a length no session has')
    t.ok(Number(after['m:c']) >= Number(anonFields['m:c']), 'the new session is stamped when regenerated')
    t.equal(Number(after['m:d']) - Number(after['m:c']), 7 * 86_400_000, 'regenerate restarts maxLifetime')
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { cart: ['book'], userId: 7 })
    t.same((await app.inject({ url: '/data', headers: { cookie: anon } })).json(), {}, 'the old id is dead')
    t.ok(await admin.pttl(oldKey as string) > 86_000_000, 'the forwarding record is slid to ttl like any key when the old cookie is used')
    const listed = await app.sessions.listFor(7)
    t.equal(listed.length, 1)
    const relogin = await app.inject({ method: 'POST', url: '/login', headers: { cookie }, payload: { userId: 8 } })
    t.same(await app.sessions.listFor(7), [], 'switching user leaves the old user\'s index')
    t.equal((await app.sessions.listFor(8)).length, 1)
    const client = adminFor(t, server)
    t.same(await client.zrange('scaleout:sess:user:{7}', '0', '-1'), [])
    t.same(await client.zrange('scaleout:sess:user:{8}', '0', '-1'), [valueOf(cookieOf(relogin) as string).slice(0, 51)])
  })

  // Regression: regenerate('cart') iterated the string's characters and kept nothing, silently.
  t.test('regenerate() with keys that are not an array of session keys is a coded error, and nothing changes', async (t) => {
    const app = await build(t, { redis: server.url }, {}, (app) => {
      app.post('/regen', async (request) => {
        const { keep, callback } = request.body as { keep: unknown, callback?: boolean }
        if (callback === true) {
          return await new Promise((resolve) => {
            request.session.regenerate(keep as string[], (err) => { resolve({ code: (err as { code?: string } | null)?.code ?? null }) })
          })
        }
        await request.session.regenerate(keep as string[])
        return { ok: true }
      })
    })
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: ['book'] } })) as string
    // A key is 1 to 256 characters: the longest is stored, one more is refused, on set() as on regenerate().
    const longest = 'k'.repeat(256)
    const other = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { [longest]: 1 } })) as string
    t.same((await app.inject({ url: '/data', headers: { cookie: other } })).json(), { [longest]: 1 }, 'the longest key is stored')
    for (const key of ['k'.repeat(257), '']) {
      const refused = await app.inject({ method: 'POST', url: '/set', headers: { cookie: other }, payload: { [key]: 1 } })
      t.same([refused.statusCode, refused.json().code], [500, 'SCALEOUT_ERR_SESSION_KEY'], `a key of ${key.length} characters`)
    }
    const cases: Array<[unknown, string, string]> = [
      ['cart', 'SCALEOUT_ERR_INVALID_OPTION', '@scaleout/session: option `session.regenerate` is invalid: expected an array of the session keys to keep, or nothing'],
      [{ cart: true }, 'SCALEOUT_ERR_INVALID_OPTION', '@scaleout/session: option `session.regenerate` is invalid: expected an array of the session keys to keep, or nothing'],
      [['cart', 5], 'SCALEOUT_ERR_SESSION_KEY', 'Session keys must be non-empty strings of at most 256 characters of valid Unicode, other than __proto__'],
      [['__proto__'], 'SCALEOUT_ERR_SESSION_KEY', 'Session keys must be non-empty strings of at most 256 characters of valid Unicode, other than __proto__'],
      [['k'.repeat(257)], 'SCALEOUT_ERR_SESSION_KEY', 'Session keys must be non-empty strings of at most 256 characters of valid Unicode, other than __proto__']
    ]
    for (const [keep, code, message] of cases) {
      const res = await app.inject({ method: 'POST', url: '/regen', headers: { cookie }, payload: { keep } })
      t.equal(res.statusCode, 500, JSON.stringify(keep))
      t.same([res.json().code, res.json().message], [code, message], JSON.stringify(keep))
      t.equal(res.headers['set-cookie'], undefined, 'the id is unchanged')
    }
    const called = await app.inject({ method: 'POST', url: '/regen', headers: { cookie }, payload: { keep: 'cart', callback: true } })
    t.same(called.json(), { code: 'SCALEOUT_ERR_INVALID_OPTION' }, 'the callback form gets the error')
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { cart: ['book'] }, 'the session is as it was')
  })

  t.test('regenerating a brand-new session just creates it', async (t) => {
    const app = await build(t, { redis: server.url })
    const res = await app.inject({ method: 'POST', url: '/login', payload: { userId: 'new' } })
    t.ok(cookieOf(res))
    t.equal((await sessionKeys(server)).length, 1)
  })

  t.test('destroy then set starts a fresh session in the same request', async (t) => {
    const app = await build(t, { redis: server.url }, {}, (app) => {
      app.post('/flash', async (request) => {
        await request.session.destroy()
        request.session.set('flash', 'bye')
        return { isNew: request.session.isNew }
      })
      app.post('/destroy-new', async (request) => {
        await request.session.destroy()
        return { ok: true }
      })
    })
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u' } })) as string
    const res = await app.inject({ method: 'POST', url: '/flash', headers: { cookie } })
    t.same(res.json(), { isNew: true })
    const fresh = cookieOf(res) as string
    t.not(fresh, cookie)
    t.same((await app.inject({ url: '/data', headers: { cookie: fresh } })).json(), { flash: 'bye' })
    t.equal((await sessionKeys(server)).length, 1)
    const noCookie = await app.inject({ method: 'POST', url: '/destroy-new' })
    t.equal(noCookie.headers['set-cookie'], undefined, 'nothing to clear without a cookie')
  })

  t.test('save() writes before the handler returns; reload() re-reads; touch() on a new session does nothing', async (t) => {
    const app = await build(t, { redis: server.url }, {}, (app) => {
      app.post('/save-then-peek', async (request) => {
        request.session.set('n', 41)
        await request.session.save()
        const peek = server.client()
        const keys = await peek.keys('scaleout:sess:{*')
        const stored = (storedFields(await peek.get(keys[0] as string) as string))['d:n']
        peek.disconnect()
        request.session.set('n', 42)
        return { stored }
      })
      app.post('/reload', async (request) => {
        request.session.set('n', 1000)
        await request.session.reload()
        return { n: request.session.get('n') ?? null }
      })
      app.post('/touch-new', async (request) => {
        request.session.touch()
        return { ok: true }
      })
      app.post('/save-empty', async (request) => {
        await request.session.save()
        return { isNew: request.session.isNew }
      })
    })
    const res = await app.inject({ method: 'POST', url: '/save-then-peek' })
    t.same(res.json(), { stored: '41' })
    const cookie = cookieOf(res) as string
    t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: 42 })
    const reloaded = await app.inject({ method: 'POST', url: '/reload', headers: { cookie } })
    t.same(reloaded.json(), { n: 42 })
    t.equal(reloaded.headers['set-cookie'], undefined, 'regression: reload() must not clear the cookie of a live session')
    await app.inject({ method: 'POST', url: '/logout', headers: { cookie } })
    const gone = await app.inject({ method: 'POST', url: '/reload', headers: { cookie } })
    t.same(gone.json(), { n: null })
    t.match(gone.headers['set-cookie'], /^sessionId=; /, 'a session gone by the reload clears the cookie')
    t.same((await app.inject({ method: 'POST', url: '/reload' })).json(), { n: null })
    t.equal((await app.inject({ method: 'POST', url: '/touch-new' })).headers['set-cookie'], undefined)
    const empty = await app.inject({ method: 'POST', url: '/save-empty' })
    t.same(empty.json(), { isNew: false })
    t.ok(cookieOf(empty), 'an explicit save() creates even an empty session')
  })

  t.test('a { session: false } route: request.session throws a coded error on use', async (t) => {
    const app = await build(t, { redis: server.url }, {}, (app) => {
      app.get('/off', { config: { session: false } }, async (request) => {
        const s = request.session
        const outcomes: string[] = []
        const tries: Array<() => unknown> = [
          () => s.id, () => s.sessionId, () => s.isNew, () => s.get('n'), () => s.set('n', 1), () => s.delete('n'),
          () => s.has('n'), () => s.data(), () => s.touch(), () => s.encryptedSessionId, () => s.isModified(), () => s.isSaved()
        ]
        for (const attempt of tries) {
          try {
            attempt()
          } catch (err) {
            outcomes.push((err as { code: string }).code)
          }
        }
        for (const attempt of [s.regenerate, s.destroy, s.reload, s.save]) {
          await attempt().catch((err: { code: string }) => outcomes.push(err.code))
        }
        return outcomes
      })
    })
    const res = await app.inject('/off')
    t.same(res.json(), Array(16).fill('SCALEOUT_ERR_SESSION_DISABLED'))
    t.equal(res.headers['set-cookie'], undefined)
  })

  t.test('invalid session keys and user ids are coded errors and nothing is written', async (t) => {
    const app = await build(t, { redis: server.url }, {}, (app) => {
      app.get('/bad-key', async (request) => {
        request.session.set('', 1)
        return { ok: true }
      })
      app.get('/bad-user', async (request) => {
        request.session.set('userId', { id: 1 } as unknown as string)
        return { ok: true }
      })
    })
    const badKey = await app.inject('/bad-key')
    t.equal(badKey.statusCode, 500)
    t.equal(badKey.json().code, 'SCALEOUT_ERR_SESSION_KEY')
    const badUser = await app.inject('/bad-user')
    t.equal(badUser.statusCode, 500)
    t.equal(badUser.json().code, 'SCALEOUT_ERR_SESSION_USER_ID')
    t.equal(badUser.headers['set-cookie'], undefined)
    t.same(await sessionKeys(server), [])
  })

  t.test('works with @fastify/cookie registered before or after, keeping its cookies', async (t) => {
    const { default: cookiePlugin } = await import('@fastify/cookie')
    for (const order of ['before', 'after'] as const) {
      const app = appFor(t, {})
      if (order === 'before') await app.register(cookiePlugin)
      await app.register(session, { secret: SECRET, redis: server.url })
      if (order === 'after') await app.register(cookiePlugin)
      app.get('/both', async (request, reply) => {
        request.session.set('n', (request.session.get('n') ?? 0) + 1)
        reply.setCookie('theme', 'dark', { path: '/' })
        return { n: request.session.get('n'), theme: request.cookies.theme ?? null }
      })
      await app.ready()
      const first = await app.inject('/both')
      const headers = first.headers['set-cookie'] as string[]
      t.equal(headers.length, 2, order)
      t.ok(headers.some((h) => h.startsWith('theme=dark')), order)
      const sid = headers.find((h) => h.startsWith('sessionId='))?.split(';')[0] as string
      const second = await app.inject({ url: '/both', headers: { cookie: `theme=light; ${sid}` } })
      t.same(second.json(), { n: 2, theme: 'light' }, order)
    }
  })
})

function valueOf (cookie: string): string {
  return cookie.slice(cookie.indexOf('=') + 1)
}
