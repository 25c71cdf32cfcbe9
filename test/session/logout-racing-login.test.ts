import t from 'tap'
import type { Test } from 'tap'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { adminFor, logSink, redisFor } from '../helpers/index.js'
import { fragmentOf } from './gated-routes.js'
import { build, cookieOf, roundTrips, sessionKeys, storedFields, valueOf } from './setup.js'

// A logout racing a login on the same old cookie (two tabs, a logout clicked while a login is on
// its way): the login's regenerate() turns the old id into a forwarding record to the new session
// and lands first; the logout, still carrying the old cookie, called destroy(), which ended only
// the forwarding record. The new session lived on, held by no cookie the user keeps (or by the
// login's cookie, when its response came last: still logged in after clicking logout), and listed
// under the user in listFor until its idle timeout. destroy() through an old cookie now also ends
// the session its forwarding record leads to, when that session says it was regenerated from it
// within the record's lifetime, and nothing else.

/** What a gated logout waits on: `entered` once its handler has the session read, then `release()`. */
interface Gate { entered: Promise<void>, enter: () => void, released: Promise<void>, release: () => void }

function gate (): Gate {
  const g: Partial<Gate> = {}
  g.entered = new Promise<void>((resolve) => { g.enter = resolve })
  g.released = new Promise<void>((resolve) => { g.release = resolve })
  return g as Gate
}

async function serve (t: Test, redis: string): Promise<{ app: FastifyInstance, base: string, gated: { current: Gate | null } }> {
  const gated: { current: Gate | null } = { current: null }
  const app = await build(t, { redis }, {}, (app) => {
    // A logout whose handler has read the session and then waits: the test lands a login meanwhile.
    app.post('/logout-gated', async (request) => {
      const g = gated.current
      if (g !== null) {
        g.enter()
        await g.released
      }
      // A change saved first lands on the record the racing login left (nothing saved).
      if ((request.query as { save?: string }).save === '1') {
        request.session.set('n', 1)
        await request.session.save()
      }
      await request.session.destroy()
      return { ok: true }
    })
    // A login whose handler has read the session and then waits: the test lands a logout meanwhile.
    app.post('/login-gated', async (request) => {
      const g = gated.current
      if (g !== null) {
        g.enter()
        await g.released
      }
      await request.session.regenerate()
      request.session.set('userId', 'u')
      return { ok: true }
    })
    app.post('/regenerate', async (request) => {
      await request.session.regenerate()
      request.session.set('n', 2)
      return { ok: true }
    })
    app.post('/lazy/logout', { config: { session: 'lazy' } }, async (request) => {
      await request.session.destroy()
      return { ok: true }
    })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, gated }
}

interface Sent { status: number, body: unknown, cookie: string | null, cleared: boolean }

async function send (base: string, path: string, cookie: string | null, body?: unknown): Promise<Sent> {
  const headers: Record<string, string> = cookie === null ? {} : { cookie }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(base + path, { method: body === undefined ? 'GET' : 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const header = res.headers.get('set-cookie')
  const cleared = header !== null && /Max-Age=0/.test(header)
  return { status: res.status, body: await res.json(), cookie: header === null || cleared ? null : header.split(';')[0] as string, cleared }
}

const keyOf = (cookie: string): string => {
  const id = valueOf(cookie).split('.')[0] as string
  return `scaleout:sess:{${id.slice(0, 8)}}:${id.slice(8)}`
}

for (const [start, path] of [['anonymous', '/logout-gated'], ['logged-in', '/logout-gated'], ['logged-in', '/logout-gated?save=1']] as const) {
  t.test(`real server: a logout (${path}) that read the ${start} session before a racing login landed ends the login's session too`, async (t) => {
    const server = await redisFor(t)
    const admin = adminFor(t, server)
    const { app, base, gated } = await serve(t, server.url)
    const first = start === 'anonymous' ? await send(base, '/set', null, { cart: 'x' }) : await send(base, '/login', null, { userId: 'u' })
    const old = first.cookie as string

    const g = gated.current = gate()
    const logout = send(base, path, old, {})
    await g.entered
    gated.current = null
    const login = await send(base, '/login', old, { userId: 'u', keep: ['cart'] })
    t.equal(login.status, 200, 'the login landed while the logout was in its handler')
    const fresh = login.cookie as string
    t.not(fresh, old)
    g.release()
    const out = await logout
    t.same([out.status, out.body, out.cleared], [200, { ok: true }, true], 'the logout answers and clears the cookie')

    t.same((await send(base, '/data', fresh)).body, {}, 'the login\'s cookie, whichever response the browser kept last, holds no session')
    t.same((await send(base, '/data', old)).body, {})
    t.same(await sessionKeys(server), [], 'no session left in Redis')
    t.same(await admin.keys('scaleout:sess:*'), [], 'nor the forwarding record, nor a user index')
    t.same(await app.sessions.listFor('u'), [])
  })
}

for (const route of ['/logout', '/lazy/logout'] as const) {
  t.test(`real server: a logout (${route}) with the old cookie, after a racing login landed, ends the login's session and nobody else's`, async (t) => {
    const server = await redisFor(t)
    const admin = adminFor(t, server)
    const { app, base } = await serve(t, server.url)
    const old = (await send(base, '/login', null, { userId: 'u' })).cookie as string
    const bystander = (await send(base, '/login', null, { userId: 'b' })).cookie as string
    const otherDevice = (await send(base, '/login', null, { userId: 'u' })).cookie as string

    const login = await send(base, '/login', old, { userId: 'u' })
    t.equal(login.status, 200)
    const { result: out, trips, commands } = await roundTrips(server, async () => await send(base, route, old, {}))
    t.same([out.status, out.body, out.cleared], [200, { ok: true }, true])
    t.equal(trips, route === '/logout' ? 3 : 2, 'the read (not on a lazy route), the destroy, and the ZREM of the login\'s index entry')
    const { eval: sent = 0, evalsha: sentSha = 0, ...others } = commands
    t.equal(sent + sentSha, 1, 'one script')
    t.same(others, { ...(route === '/logout' ? { getex: 1 } : {}), getrange: 1, time: 1, get: 1, del: 2, zrem: 1 }, 'in it, the record and the session it leads to read and deleted; then the index entry')
    t.same((await send(base, '/get/userId', login.cookie as string)).body, { value: null }, 'the login\'s session is ended')
    t.same((await send(base, '/get/userId', bystander)).body, { value: 'b' })
    t.same((await send(base, '/get/userId', otherDevice)).body, { value: 'u' })
    t.equal((await app.sessions.listFor('u')).length, 1, 'only the other device stays listed')
    t.same(await admin.zrange('scaleout:sess:user:{u}', 0, -1), [valueOf(otherDevice).split('.')[0]], 'the ended session left the user index')
    t.same(await sessionKeys(server), [keyOf(bystander), keyOf(otherDevice)].sort())
  })
}

t.test('a forwarding record leads a logout only to a session that names it, regenerated within the record\'s lifetime', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const { base } = await serve(t, server.url)

  t.test('a forged record: the session it points at, in the same slot, does not name it', async (t) => {
    const holder = (await send(base, '/set', null, { n: 1 })).cookie as string
    const victim = (await send(base, '/login', null, { userId: 'v' })).cookie as string
    // The victim's session, copied into the holder's slot under a name the record points at.
    const planted = keyOf(holder).replace(/:[^:]+$/, ':' + 'P'.repeat(43))
    await admin.set(planted, await admin.get(keyOf(victim)) as string, 'PX', 60_000)
    const record = '{"m:n":"' + 'P'.repeat(43) + '"'
    await admin.set(keyOf(holder), record + ' '.repeat(63 - record.length) + '}', 'PX', 60_000)
    const out = await send(base, '/logout', holder, {})
    t.same([out.status, out.cleared], [200, true])
    t.equal(await admin.exists(keyOf(holder)), 0, 'the record is gone')
    t.equal(storedFields(await admin.get(planted))['m:u'], 'v', 'the session it pointed at is not ended')
  })

  t.test('a session regenerated by an earlier version, which names no predecessor', async (t) => {
    const old = (await send(base, '/login', null, { userId: 'e' })).cookie as string
    const fresh = (await send(base, '/login', old, { userId: 'e' })).cookie as string
    // As an earlier version stored it: no m:p (a removed field reads as none).
    await admin.append(keyOf(fresh), ',"m:p":null' + ' '.repeat(53))
    t.equal(storedFields(await admin.get(keyOf(fresh)))['m:p'], undefined)
    const out = await send(base, '/logout', old, {})
    t.same([out.status, out.cleared], [200, true])
    t.same((await send(base, '/get/userId', fresh)).body, { value: 'e' }, 'only the old id\'s record is ended, as before')
  })

  t.test('a stale record: the session it leads to was regenerated from it longer ago than a record lives', async (t) => {
    const old = (await send(base, '/login', null, { userId: 's' })).cookie as string
    const fresh = (await send(base, '/login', old, { userId: 's' })).cookie as string
    t.equal(storedFields(await admin.get(keyOf(fresh)))['m:p'], valueOf(old).split('.')[0]?.slice(8), 'the new session names the one it replaced')
    // Created (regenerated) 2 min ago: longer than the record's 60 s + 4 x timeout.
    await admin.append(keyOf(fresh), fragmentOf({ 'm:c': String(Date.now() - 120_000) }))
    const out = await send(base, '/logout', old, {})
    t.same([out.status, out.cleared], [200, true])
    t.same((await send(base, '/get/userId', fresh)).body, { value: 's' }, 'the current session is not ended by a cookie that old')
  })
})

t.test('a logout with the old cookie follows the records of further regenerate()s, and ends an anonymous successor', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const { base } = await serve(t, server.url)
  const first = (await send(base, '/set', null, { cart: 'x' })).cookie as string
  const second = (await send(base, '/login', first, { userId: 'c', keep: ['cart'] })).cookie as string
  // Regenerated again, keeping nothing: a session of nobody's, which no index lists.
  const third = (await send(base, '/regenerate', second, {})).cookie as string
  t.same((await send(base, '/data', third)).body, { n: 2 })
  t.equal(await admin.exists('scaleout:sess:user:{c}'), 0)
  const out = await send(base, '/logout', first, {})
  t.same([out.status, out.cleared], [200, true])
  t.same(await admin.keys('scaleout:sess:*'), [], 'the records and the session they lead to are gone')
})

t.test('a logout whose ending of the login\'s session cannot leave its index still logs out, and says so', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const sink = logSink('warn')
  const app = await build(t, { redis: server.url }, { logger: sink.logger })
  const old = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'w' } })) as string
  const fresh = cookieOf(await app.inject({ method: 'POST', url: '/login', headers: { cookie: old }, payload: { userId: 'w' } })) as string
  // The index key made something ZREM refuses (WRONGTYPE).
  await admin.del('scaleout:sess:user:{w}')
  await admin.set('scaleout:sess:user:{w}', 'not an index')
  const out = await app.inject({ method: 'POST', url: '/logout', headers: { cookie: old } })
  t.same([out.statusCode, out.json()], [200, { ok: true }])
  t.same((await app.inject({ url: '/get/userId', headers: { cookie: fresh } })).json(), { value: null })
  t.same(sink.messages(40), ['@scaleout/session: a session a logout ended could not leave its user index; listFor and destroyAllFor prune the entry'])
  t.equal(await admin.get('scaleout:sess:user:{w}'), 'not an index')
})

t.test('real server: a logout that lands before a racing login leaves the login nothing to log in', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const { app, base, gated } = await serve(t, server.url)
  const old = (await send(base, '/login', null, { userId: 'u' })).cookie as string
  const g = gated.current = gate()
  const login = send(base, '/login-gated', old, {})
  await g.entered
  gated.current = null
  const out = await send(base, '/logout', old, {})
  t.same([out.status, out.cleared], [200, true])
  g.release()
  const late = await login
  t.same([late.status, late.cookie, late.cleared], [200, null, true], 'the login finds its session ended: no cookie for a session, the old one cleared')
  t.same(await admin.keys('scaleout:sess:*'), [])
  t.same(await app.sessions.listFor('u'), [])
})

t.test('a logout with the old cookie follows at most 16 records', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const { base } = await serve(t, server.url)
  for (const [regenerates, ended] of [[16, true], [17, false]] as const) {
    const first = (await send(base, '/set', null, { n: 1 })).cookie as string
    let last = first
    for (let i = 0; i < regenerates; i++) last = (await send(base, '/regenerate', last, {})).cookie as string
    const out = await send(base, '/logout', first, {})
    t.same([out.status, out.cleared], [200, true])
    t.same((await send(base, '/data', last)).body, ended ? {} : { n: 2 }, `${regenerates} regenerate()s later: ${ended ? 'ended' : 'not ended'}`)
    if (!ended) t.equal(await admin.exists(keyOf(last)), 1)
  }
})
