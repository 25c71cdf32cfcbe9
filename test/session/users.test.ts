import t from 'tap'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { build, cookieOf, roundTrips, valueOf, storedFields } from './setup.js'

t.test('per-user index: listFor and destroyAllFor', async (t) => {
  const server = await redisFor(t)
  t.beforeEach(async () => await server.flushAll())
  const client = adminFor(t, server)
  const app = await build(t, { redis: server.url }, {}, (app) => {
    app.post('/logout-others', async (request) => {
      const destroyed = await app.sessions.destroyAllFor(request.session.get('userId') as string, { except: request.session.id })
      return { destroyed }
    })
    app.post('/forget-user', async (request) => {
      request.session.delete('userId')
      return { ok: true }
    })
  })

  async function loginAs (userId: string | number, agent: string): Promise<string> {
    return cookieOf(await app.inject({ method: 'POST', url: '/login', headers: { 'user-agent': agent }, payload: { userId } })) as string
  }

  t.test('lists live sessions with digests, never ids, most recent first', async (t) => {
    const phone = await loginAs('alice', 'phone')
    const laptop = await loginAs('alice', 'laptop')
    await loginAs('bob', 'other')
    await app.inject({ method: 'POST', url: '/set', payload: { anonymous: true } })
    const loggedIn = Date.now()
    await waitUntil('the clock to move past the logins', () => Date.now() >= loggedIn + 5)
    await app.inject({ url: '/get/n', headers: { cookie: phone } })
    const list = await app.sessions.listFor('alice')
    t.same(list.map((s) => s.userAgent), ['phone', 'laptop'])
    for (const entry of list) {
      t.match(entry.id, /^[A-Za-z0-9_-]{16}$/)
      t.equal(entry.ip, '127.0.0.1')
      t.ok(entry.createdAt instanceof Date && entry.lastSeenAt >= entry.createdAt)
      t.notOk(valueOf(phone).includes(entry.id) || valueOf(laptop).includes(entry.id))
    }
    t.same(await app.sessions.listFor('nobody'), [])
  })

  t.test('log out everywhere else: keeps the current session (by id or by digest)', async (t) => {
    const phone = await loginAs('alice', 'phone')
    const laptop = await loginAs('alice', 'laptop')
    const tablet = await loginAs('alice', 'tablet')
    const bob = await loginAs('bob', 'other')
    const res = await app.inject({ method: 'POST', url: '/logout-others', headers: { cookie: laptop } })
    t.same(res.json(), { destroyed: 2 })
    t.same((await app.inject({ url: '/get/userId', headers: { cookie: laptop } })).json(), { value: 'alice' })
    t.same((await app.inject({ url: '/get/userId', headers: { cookie: phone } })).json(), { value: null })
    t.same((await app.inject({ url: '/get/userId', headers: { cookie: tablet } })).json(), { value: null })
    t.same((await app.inject({ url: '/get/userId', headers: { cookie: bob } })).json(), { value: 'bob' })
    const [remaining] = await app.sessions.listFor('alice')
    t.equal(await app.sessions.destroyAllFor('alice', { except: [remaining?.id as string] }), 0)
    t.equal(await app.sessions.destroyAllFor('alice'), 1)
    t.same(await app.sessions.listFor('alice'), [])
    t.same(await client.exists('scaleout:sess:user:{alice}'), 0)
  })

  t.test('numeric user ids, and the index expires with its last session', async (t) => {
    await loginAs(42, 'x')
    t.equal((await app.sessions.listFor(42)).length, 1)
    t.equal((await app.sessions.listFor('42')).length, 1)
    const pttl = await client.pttl('scaleout:sess:user:{42}')
    t.ok(pttl > 6 * 86_400_000 && pttl <= 7 * 86_400_000, 'index lives as long as its longest session can')
  })

  t.test('dropping the user key leaves the index; stale entries are pruned on read', async (t) => {
    const cookie = await loginAs('carol', 'x')
    await app.inject({ method: 'POST', url: '/forget-user', headers: { cookie } })
    t.same(await app.sessions.listFor('carol'), [])
    t.same(await client.zrange('scaleout:sess:user:{carol}', '0', '-1'), [])
    const [key] = await client.keys('scaleout:sess:{*')
    t.notOk(Object.hasOwn(storedFields(await client.get(key as string) as string), 'm:u'))

    // Entries the index may hold on a Cluster (logout does not touch it there), or after an idle expiry.
    const dave = await loginAs('dave', 'x')
    const daveId = valueOf(dave).slice(0, 51)
    await client.zadd('scaleout:sess:user:{dave}', Date.now() + 60_000, 'gone-session-id-000000000000000000000000000000000000')
    const carolId = valueOf(cookie).slice(0, 51)
    await client.zadd('scaleout:sess:user:{dave}', Date.now() + 60_000, carolId)
    t.equal((await app.sessions.listFor('dave')).length, 1)
    t.same(await client.zrange('scaleout:sess:user:{dave}', '0', '-1'), [daveId])
  })

  t.test('setting the same user id again leaves the index alone', async (t) => {
    const cookie = await loginAs('erin', 'x')
    const { result, trips, commands } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { userId: 'erin', n: 5 } }))
    t.equal(result.statusCode, 200)
    t.equal(trips, 2, 'n is written')
    t.equal(commands.zadd, undefined)
    t.equal((await app.sessions.listFor('erin')).length, 1)
    const alone = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { userId: 'erin' } }))
    t.equal(alone.result.statusCode, 200)
    t.same(alone.commands, { getex: 1 }, 'the same user id alone writes nothing')
  })

  t.test('over a real socket, a client that sends no User-Agent is listed with an empty one', async (t) => {
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    const status = await new Promise<number>((resolve, reject) => {
      const body = JSON.stringify({ userId: 'socket' })
      const req = request({ port, host: '127.0.0.1', method: 'POST', path: '/login', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode as number))
      })
      req.on('error', reject)
      req.end(body)
    })
    t.equal(status, 200)
    const [entry] = await app.sessions.listFor('socket')
    t.equal(entry?.userAgent, '')
    t.equal(entry?.ip, '127.0.0.1')
  })

  // Regression: null options threw a plain TypeError (destructuring null); `except: 5` threw one
  // from new Set(5); a misspelt or non-string `except` destroyed every session, the caller's too.
  t.test('destroyAllFor options that are not { except } are coded errors, and nothing is destroyed', async (t) => {
    const phone = await loginAs('alice', 'phone')
    const cases: Array<[unknown, string]> = [
      [null, 'option `sessions.destroyAllFor` is invalid: expected an object { except } or nothing'],
      ['x', 'option `sessions.destroyAllFor` is invalid: expected an object { except } or nothing'],
      [{ except: 5 }, 'option `sessions.destroyAllFor.except` is invalid: expected a session id or a digest from listFor, or an array of them'],
      [{ except: null }, 'option `sessions.destroyAllFor.except` is invalid: expected a session id or a digest from listFor, or an array of them'],
      [{ except: ['ok', 7] }, 'option `sessions.destroyAllFor.except` is invalid: expected a session id or a digest from listFor, or an array of them'],
      [{ exept: 'x' }, 'option `sessions.destroyAllFor.exept` is invalid: expected no such option: did you mean `except`? the options are except']
    ]
    for (const [options, message] of cases) {
      await t.rejects(app.sessions.destroyAllFor('alice', options as { except?: string }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: `@scaleout/session: ${message}` }, JSON.stringify(options))
    }
    t.same((await app.inject({ url: '/get/userId', headers: { cookie: phone } })).json(), { value: 'alice' }, 'still logged in')
    t.equal(await app.sessions.destroyAllFor('alice', { except: undefined }), 1, 'an undefined except is none')
  })

  t.test('a user id that is not a string or a finite number is a coded error', async (t) => {
    await t.rejects(app.sessions.listFor(''), { code: 'SCALEOUT_ERR_SESSION_USER_ID' })
    await t.rejects(app.sessions.destroyAllFor(Number.NaN), { code: 'SCALEOUT_ERR_SESSION_USER_ID' })
    await t.rejects(app.sessions.listFor({} as unknown as string), { code: 'SCALEOUT_ERR_SESSION_USER_ID' })
  })
})

// A read writes no field: while the idle expiry slides, the expiry itself says when the session was
// last used; once the absolute deadline caps the expiry, reads record the time instead.
t.test('lastSeenAt follows reads, with and without the deadline capping the expiry', async (t) => {
  const server = await redisFor(t)
  const sliding = await build(t, { redis: server.url, prefix: 'slide:' })
  const capped = await build(t, { redis: server.url, prefix: 'cap:', ttl: '2h', maxLifetime: '1h' })
  for (const [name, app] of [['sliding', sliding], ['capped', capped]] as const) {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: name } })) as string
    const [before] = await app.sessions.listFor(name)
    t.equal(before?.lastSeenAt.getTime(), before?.createdAt.getTime(), `${name}: a new session was last seen when created`)
    const created = before?.createdAt.getTime() as number
    await waitUntil('30 ms to pass since the login', () => Date.now() >= created + 30)
    const readAt = Date.now()
    await app.inject({ url: '/get/n', headers: { cookie } })
    const [after] = await app.sessions.listFor(name)
    const seen = after?.lastSeenAt.getTime() as number
    t.ok(seen - (before?.createdAt.getTime() as number) >= 30, `${name}: the read moved lastSeenAt on`)
    t.ok(Math.abs(seen - readAt) < 1000, `${name}: to the time of the read`)
  }
})

// The password-change pattern: a new id, then log out every other device. Until the regenerated
// session is saved its new id is in no index, so the old one was destroyed with the others and
// this device logged out too. The README says to save first; both orders are checked.
t.test('regenerate() then destroyAllFor(except: request.session.id): save first, or this device is logged out too', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url }, {}, (app) => {
    app.post('/change-password', async (request) => {
      const { saveFirst } = request.body as { saveFirst: boolean }
      await request.session.regenerate(['userId'])
      if (saveFirst) await request.session.save()
      const count = await app.sessions.destroyAllFor(request.session.get('userId') as string, { except: request.session.id })
      return { count }
    })
  })
  for (const saveFirst of [true, false]) {
    const userId = `alice-${String(saveFirst)}`
    const other = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId } })) as string
    const here = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId } })) as string
    const changed = await app.inject({ method: 'POST', url: '/change-password', headers: { cookie: here }, payload: { saveFirst } })
    const now = cookieOf(changed) as string
    t.same(changed.json(), { count: saveFirst ? 1 : 2 }, `saveFirst ${String(saveFirst)}`)
    t.same((await app.inject({ url: '/get/userId', headers: { cookie: other } })).json(), { value: null }, 'the other device is logged out')
    const mine = (await app.inject({ url: '/get/userId', headers: { cookie: now } })).json()
    t.same(mine, { value: saveFirst ? userId : null }, saveFirst ? 'this device stays logged in, under its new id' : 'this device is logged out too')
  }
})
