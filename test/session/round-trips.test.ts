import t from 'tap'
import { adminFor, redisFor } from '../helpers/index.js'
import { build, cookieOf, roundTrips, valueOf } from './setup.js'

// The round-trip budget, counted on the test's own Redis (INFO commandstats): a script
// call is one round trip however many commands it runs inside.
t.test('round-trip budget', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url }, {}, (app) => {
    app.post('/regenerate', async (request) => {
      await request.session.regenerate(['n'])
      return { ok: true }
    })
    app.post('/touch', async (request) => {
      request.session.touch()
      return { ok: true }
    })
    app.post('/reload', async (request) => {
      request.session.set('n', 99)
      await request.session.reload()
      return { n: request.session.get('n') ?? null }
    })
    app.post('/save', async (request) => {
      const { n } = request.body as { n?: number }
      if (n !== undefined) request.session.set('n', n)
      await request.session.save()
      return { ok: true }
    })
    app.post('/remember', async (request) => {
      request.session.set('n', 1)
      request.session.cookie.maxAge = '30d'
      return { ok: true }
    })
    app.post('/destroy-new', async (request) => {
      await request.session.destroy()
      return { ok: true }
    })
    app.post('/lazy/logout', { config: { session: 'lazy' } }, async (request) => {
      await request.session.destroy()
      return { ok: true }
    })
    app.post('/lazy/login', { config: { session: 'lazy' } }, async (request) => {
      await request.session.regenerate()
      request.session.set('userId', (request.body as { userId: string }).userId)
      return { ok: true }
    })
  })

  // Warm-up: the first call of each script on a connection is an EVAL that loads it.
  const warm = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 0 } })) as string
  await app.inject({ method: 'POST', url: '/set', headers: { cookie: warm }, payload: { n: 1 } })
  const regenerated = cookieOf(await app.inject({ method: 'POST', url: '/regenerate', headers: { cookie: warm } })) as string
  await app.inject({ method: 'POST', url: '/logout', headers: { cookie: regenerated } })

  t.test('no cookie, reading the session: 0', async (t) => {
    const { result, trips } = await roundTrips(server, async () => await app.inject('/get/n'))
    t.equal(result.statusCode, 200)
    t.same(result.json(), { value: null })
    t.equal(trips, 0)
    t.equal(result.headers['set-cookie'], undefined)
  })

  t.test('bad cookie: 0', async (t) => {
    const { result, trips, commands } = await roundTrips(server, async () => await app.inject({ url: '/get/n', headers: { cookie: 'sessionId=' + 'A'.repeat(51) + '.' + 'B'.repeat(43) } }))
    t.equal(result.statusCode, 200)
    t.equal(trips, 0)
    t.same(commands, {})
  })

  t.test('new session: 1', async (t) => {
    const { result, trips, commands } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } }))
    t.equal(result.statusCode, 200)
    t.equal(trips, 1)
    t.same(commands, { evalsha: 1, time: 1, set: 1 })
    t.ok(cookieOf(result))
  })

  t.test('read-only: 1, and it slides the idle expiry', async (t) => {
    await server.flushAll()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 5 } })) as string
    const client = adminFor(t, server)
    const [key] = await client.keys('scaleout:sess:{*')
    await client.pexpire(key as string, 10_000)
    const { result, trips, commands } = await roundTrips(server, async () => await app.inject({ url: '/get/n', headers: { cookie } }))
    t.same(result.json(), { value: 5 })
    t.equal(trips, 1)
    t.same(commands, { getex: 1 }, 'one command, no script')
    t.equal(result.headers['set-cookie'], undefined, 'no Set-Cookie when nothing about the cookie changed')
    t.ok(await client.pttl(key as string) > 86_000_000, 'idle expiry back to 24 h')
  })

  t.test('modifying: 2', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const { result, trips, commands } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: 2, other: 'x' } }))
    t.equal(result.statusCode, 200)
    t.equal(trips, 2)
    t.same(commands, { getex: 1, append: 1, pexpire: 1 }, 'one plain APPEND of the change, a PEXPIRE behind it in the same write: no script, Redis decodes nothing')
    t.equal(result.headers['set-cookie'], undefined)
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 2, other: 'x' })
  })

  t.test('logging in (regenerate and set the user id, which joins the user index): 2', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const { result, trips, commands } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/login', headers: { cookie }, payload: { userId: 'u1' } }))
    t.equal(result.statusCode, 200)
    t.equal(trips, 2)
    t.equal(commands.zadd, 1)
    t.not(cookieOf(result), cookie)
  })

  t.test('regenerate: 2', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const { result, trips } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/regenerate', headers: { cookie } }))
    t.equal(result.statusCode, 200)
    t.equal(trips, 2)
  })

  t.test('destroy: 1 for the destroy itself (plus the read that loaded the session)', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u2' } })) as string
    const { result, trips, commands } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/logout', headers: { cookie } }))
    t.equal(result.statusCode, 200)
    t.equal(trips, 2)
    t.same(commands, { getex: 1, evalsha: 1, getrange: 1, del: 1, zrem: 1 }, 'session and its index entry go in the one destroy call')
  })

  t.test('destroy on a { session: "lazy" } route: 1 for the whole logout request', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u3' } })) as string
    const { result, trips, commands } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/lazy/logout', headers: { cookie } }))
    t.equal(result.statusCode, 200)
    t.equal(trips, 1)
    t.same(commands, { evalsha: 1, getrange: 1, del: 1 }, 'the unread session\'s user is unknown: listFor prunes its index entry')
    t.match(cookieOf(result), /^sessionId=$/)
    t.same((await app.inject({ url: '/get/userId', headers: { cookie } })).json(), { value: null })
  })

  t.test('logging in on a { session: "lazy" } route: 1 on standalone', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const { result, trips, commands } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/lazy/login', headers: { cookie }, payload: { userId: 'u4' } }))
    t.equal(result.statusCode, 200)
    t.equal(trips, 1)
    t.equal(commands.zadd, 1)
    const fresh = cookieOf(result) as string
    t.not(fresh, cookie)
    t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: null }, 'the old session is gone')
    t.same((await app.inject({ url: '/data', headers: { cookie: fresh } })).json(), { userId: 'u4' })
  })

  t.test('parallel reads of one session share one script call; other sessions get their own', async (t) => {
    const a = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 7 } })) as string
    const b = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 8 } })) as string
    const { result, trips } = await roundTrips(server, async () => await Promise.all([
      ...Array.from({ length: 10 }, async () => await app.inject({ url: '/get/n', headers: { cookie: a } })),
      app.inject({ url: '/get/n', headers: { cookie: b } })
    ]))
    t.same(result.map((r) => r.json()), [...Array.from({ length: 10 }, () => ({ value: 7 })), { value: 8 }])
    t.equal(trips, 2)
  })

  t.test('parallel writers on one session share the read and each write their own key', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 0 } })) as string
    const { result, trips } = await roundTrips(server, async () => await Promise.all([
      ...Array.from({ length: 5 }, async (_, i) => await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { ['k' + i]: i } })),
      app.inject({ url: '/data', headers: { cookie } })
    ]))
    t.same(result.map((r) => r.statusCode), [200, 200, 200, 200, 200, 200])
    t.equal(trips, 6, 'one shared read, five writes')
    t.same(result[5]?.json(), { n: 0 }, 'a reader sharing the load sees none of the writers\' changes')
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 0, k0: 0, k1: 1, k2: 2, k3: 3, k4: 4 })
  })

  t.test('reload(): one GETEX, none for a session never saved', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 3 } })) as string
    const loaded = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/reload', headers: { cookie } }))
    t.same(loaded.result.json(), { n: 3 })
    t.same(loaded.commands, { getex: 2 }, 'the load before the handler, then the reload')
    const fresh = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/reload' }))
    t.same(fresh.result.json(), { n: null })
    t.equal(fresh.trips, 0)
  })

  t.test('save(): one APPEND, none when nothing changed', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 3 } })) as string
    const changed = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/save', headers: { cookie }, payload: { n: 4 } }))
    t.same(changed.commands, { getex: 1, append: 1, pexpire: 1 })
    const unchanged = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/save', headers: { cookie }, payload: {} }))
    t.same(unchanged.commands, { getex: 1 }, 'only the load before the handler')
  })

  t.test('destroy() of a session never saved: no round trip', async (t) => {
    const { result, trips } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/destroy-new' }))
    t.equal(result.statusCode, 200)
    t.equal(trips, 0)
  })

  t.test('touch re-sends the cookie without a round trip of its own', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const { result, trips } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/touch', headers: { cookie } }))
    t.equal(trips, 1)
    t.equal(cookieOf(result), cookie)
  })

  t.test('a { session: false } route with a valid cookie: 0 and no Set-Cookie', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const { result, trips } = await roundTrips(server, async () => await app.inject({ url: '/static', headers: { cookie } }))
    t.same(result.json(), { static: true })
    t.equal(trips, 0)
    t.equal(result.headers['set-cookie'], undefined)
  })

  t.test('a session with its own maxAge: a PEXPIRE after the first read by an instance, none after its creation or a write; the others stay at one GETEX', async (t) => {
    const created = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/remember' }))
    t.same(created.commands, { evalsha: 1, time: 1, set: 1 }, 'created with its own idle expiry')
    t.equal(created.trips, 1)
    const remembered = cookieOf(created.result) as string
    const read = await roundTrips(server, async () => await app.inject({ url: '/get/n', headers: { cookie: remembered } }))
    t.same(read.commands, { getex: 1, pexpire: 1 }, 'the GETEX slides it by ttl: this instance has not read it before')
    t.equal(read.trips, 2)
    const again = await roundTrips(server, async () => await app.inject({ url: '/get/n', headers: { cookie: remembered } }))
    t.same(again.commands, { getex: 1 }, 'the GETEX slides it by its own 30 days')
    t.equal(again.trips, 1)
    const id = valueOf(remembered).slice(0, 51)
    t.ok(await adminFor(t, server).pttl(`scaleout:sess:{${id.slice(0, 8)}}:${id.slice(8)}`) > 29 * 86_400_000, 'its 30 days')
    const write = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/save', headers: { cookie: remembered }, payload: { n: 2 } }))
    t.same(write.commands, { getex: 1, append: 1, pexpire: 1 })
    t.equal(write.trips, 2)
    const plain = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const plainRead = await roundTrips(server, async () => await app.inject({ url: '/get/n', headers: { cookie: plain } }))
    t.same(plainRead.commands, { getex: 1 })
  })
})
