import t from 'tap'
import { adminFor, logSink, redisFor, waitUntil } from '../helpers/index.js'
import { build, cookieOf, roundTrips, sessionKeys, valueOf, storedFields } from './setup.js'

t.test('maxBytes: the save fails with a clear error and nothing partial is written', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url, maxBytes: 200 }, {}, (app) => {
    app.post('/bigint', async (request) => {
      request.session.set('small', 2)
      request.session.set('big', 10n as unknown as number)
      return { ok: true }
    })
  })
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { small: 1 } })) as string
  const res = await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { small: 2, big: 'x'.repeat(200) } })
  t.equal(res.statusCode, 413)
  t.equal(res.json().code, 'SCALEOUT_ERR_SESSION_TOO_LARGE')
  t.match(res.json().message, /^Session data is 2\d\d bytes, over the maxBytes of 200 bytes; nothing was saved$/)
  t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { small: 1 })
  const encode = await app.inject({ method: 'POST', url: '/bigint', headers: { cookie } })
  t.equal(encode.statusCode, 500)
  t.equal(encode.json().code, 'SCALEOUT_ERR_ENCODE')
  t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { small: 1 })

  await server.flushAll()
  const fresh = await app.inject({ method: 'POST', url: '/set', payload: { big: 'x'.repeat(300) } })
  t.equal(fresh.json().code, 'SCALEOUT_ERR_SESSION_TOO_LARGE')
  t.equal(fresh.headers['set-cookie'], undefined)
  t.same(await sessionKeys(server), [])
})

t.test('decoding stored data is safe against prototype pollution and reports corruption', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url }, {}, (app) => {
    app.get('/merge', async (request) => {
      const merged = Object.assign({}, request.session.get('evil'))
      return { polluted: ({} as Record<string, unknown>).polluted ?? null, mergedPolluted: (merged as Record<string, unknown>).polluted ?? null }
    })
  })
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  const client = adminFor(t, server)
  const [key] = await sessionKeys(server)
  const stored = storedFields(await client.get(key as string) as string)
  await client.set(key as string, JSON.stringify({ ...stored, 'd:evil': '{"__proto__":{"polluted":true},"ok":1}', 'd:broken': '{not json' }), 'KEEPTTL')
  t.same((await app.inject({ url: '/merge', headers: { cookie } })).json(), { polluted: null, mergedPolluted: null })
  t.same((await app.inject({ url: '/get/evil', headers: { cookie } })).json(), { value: { ok: 1 } })
  const broken = await app.inject({ url: '/get/broken', headers: { cookie } })
  t.equal(broken.statusCode, 500)
  t.equal(broken.json().code, 'SCALEOUT_ERR_DECODE')
  t.equal(broken.json().message, 'Stored value could not be decoded (the reason is in the error\'s cause)', 'none of the value quoted')

  // A stored value that is not a session object (corrupt, or not ours) reads as no session.
  for (const garbage of ['not json', '[1,2]', 'null', '{"d:n":"1"}']) {
    await client.set(key as string, garbage)
    const res = await app.inject({ url: '/get/n', headers: { cookie } })
    t.same(res.json(), { value: null }, garbage)
    t.match(res.headers['set-cookie'], /^sessionId=; /)
    const write = await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: 5 } })
    t.equal(write.statusCode, 200)
    t.not(cookieOf(write), cookie, 'a write starts a new session rather than merging into garbage')
    t.equal(await client.get(key as string), garbage)
  }

  // A field that is not a string (only someone else writes those) is ignored, not decoded.
  await client.set(key as string, JSON.stringify({ 'm:c': '1', 'm:d': String(Date.now() + 60_000), 'd:n': 5, 'd:ok': '"yes"' }))
  t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { ok: 'yes' })

  // Not an outage: a key of the wrong type is a bug to see, so it is a 500 and not a 503.
  await client.del(key as string)
  await client.hset(key as string, 'd:n', '1')
  const wrong = await app.inject({ url: '/get/n', headers: { cookie } })
  t.equal(wrong.statusCode, 500)
  t.equal(wrong.json().code, 'SCALEOUT_ERR_REDIS_REPLY')
})

t.test('timeouts: idle (sliding, by Redis expiry) and absolute (checked on every use)', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url, ttl: 1000, maxLifetime: '3s' })
  const client = adminFor(t, server)

  const idle = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  await waitUntil('the idle session to expire', async () => (await sessionKeys(server)).length === 0, 10_000, 100)
  const expired = await app.inject({ url: '/get/n', headers: { cookie: idle } })
  t.same(expired.json(), { value: null })
  t.match(expired.headers['set-cookie'], /^sessionId=; /)

  const used = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 2 } })) as string
  const [key] = await sessionKeys(server)
  const created = Number((storedFields(await client.get(key as string) as string))['m:c'])
  // Used every 300 ms, it outlives its 1 s idle timeout, but not its 3 s lifetime.
  let lastOk = 0
  await waitUntil('the used session to reach its absolute deadline', async () => {
    const res = await app.inject({ url: '/get/n', headers: { cookie: used } })
    if (res.json().value !== 2) return true
    lastOk = Date.now()
    t.ok(await client.pttl(key as string) <= 1000)
    return false
  }, 10_000, 300)
  t.ok(lastOk - created > 1500, 'sliding kept it alive past the idle timeout')
  t.ok(Date.now() - created < 3000 + 1500, 'gone once the absolute lifetime ended')
  // Its key is no longer slid, so Redis removes it within the idle timeout.
  await waitUntil('the dead session\'s key to expire', async () => (await sessionKeys(server)).length === 0, 5000, 100)
})

// Regression: a read of a session past its absolute deadline answered "no session" and cleared the
// cookie, but its GETEX had slid the key's expiry, so a client replaying the cookie kept the dead
// session (and its data) in Redis for as long as it kept replaying.
t.test('a session past maxLifetime leaves Redis within ttl of its deadline, however often its cookie is replayed', async (t) => {
  const server = await redisFor(t)
  const client = adminFor(t, server)
  const app = await build(t, { redis: server.url, ttl: '2s', maxLifetime: '1s' })
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  const [key] = await sessionKeys(server)
  const deadline = Number(storedFields(await client.get(key as string) as string)['m:d'])
  const live = await roundTrips(server, async () => await app.inject({ url: '/get/n', headers: { cookie } }))
  t.same(live.result.json(), { value: 1 })
  t.same(live.commands, { getex: 1 }, 'a read within the deadline is one GETEX, as before')

  await waitUntil('the deadline to pass', async () => Date.now() > deadline + 50, 5000, 20)
  const dead = await roundTrips(server, async () => await app.inject({ url: '/get/n', headers: { cookie } }))
  t.same(dead.result.json(), { value: null })
  t.match(dead.result.headers['set-cookie'], /^sessionId=; /)
  t.same(dead.commands, { getex: 1, pexpireat: 1 }, 'the expiry the GETEX slid is put back')
  t.ok(await client.pexpiretime(key as string) <= deadline + 2000, 'the key expires within ttl of the deadline')

  // Replayed every 200 ms, it is still gone by its deadline plus ttl.
  let replays = 0
  await waitUntil('the dead session\'s key to expire while its cookie is replayed', async () => {
    replays++
    t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: null })
    return (await client.exists(key as string)) === 0
  }, 5000, 200)
  t.ok(Date.now() <= deadline + 2000 + 500, 'gone within ttl of its deadline')
  t.ok(replays > 3, 'replayed meanwhile')
})

// The same for a session with an idle time of its own (its cookie's maxAge): its key leaves Redis
// within that idle time of the deadline, not within the plugin's much longer ttl.
t.test('a session with its own maxAge past maxLifetime leaves Redis within its own idle time of the deadline', async (t) => {
  const server = await redisFor(t)
  const client = adminFor(t, server)
  const app = await build(t, { redis: server.url, ttl: '1h', maxLifetime: '1s' }, {}, (app) => {
    app.post('/own', async (request) => {
      request.session.cookie.maxAge = 2000
      request.session.set('n', 1)
      return { ok: true }
    })
  })
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/own' })) as string
  const [key] = await sessionKeys(server)
  const deadline = Number(storedFields(await client.get(key as string) as string)['m:d'])
  t.ok(await client.pttl(key as string) <= 2000, 'its idle expiry is its own')
  await waitUntil('the deadline to pass', async () => Date.now() > deadline + 50, 5000, 20)
  t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: null })
  const expiresAt = await client.pexpiretime(key as string)
  t.ok(expiresAt > 0 && expiresAt <= deadline + 2000, `the key expires within its own idle time of the deadline (${expiresAt - deadline} ms after it), not within ttl`)
})

t.test('logs never contain a raw session id', async (t) => {
  const server = await redisFor(t)
  const sink = logSink('trace')
  let release: () => void = () => {}
  let arrived: () => void = () => {}
  const app = await build(t, { redis: { url: server.url, commandTimeout: 200 } }, { logger: sink.logger }, (app) => {
    app.post('/slow-set', async (request) => {
      request.session.get('n')
      await new Promise<void>((resolve) => { release = resolve; arrived() })
      request.session.set('late', true)
      return { ok: true }
    })
  })
  const ids: string[] = []
  const login = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'logged' } })) as string
  ids.push(valueOf(login).slice(0, 51))
  await app.inject({ url: '/get/userId', headers: { cookie: login } })
  const waiting = new Promise<void>((resolve) => { arrived = resolve })
  const slow = app.inject({ method: 'POST', url: '/slow-set', headers: { cookie: login } })
  await waiting
  await app.inject({ method: 'POST', url: '/logout', headers: { cookie: login } })
  release()
  await slow
  const other = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  ids.push(valueOf(other).slice(0, 51))
  server.pause()
  t.equal((await app.inject({ url: '/get/n', headers: { cookie: other } })).statusCode, 503)
  server.resume()

  const text = sink.lines.map((line) => JSON.stringify(line)).join('\n')
  t.match(text, /session ended while this request ran/)
  t.match(text, /session could not be loaded/)
  t.match(text, /"session":"[A-Za-z0-9_-]{16}"/)
  for (const id of ids) {
    t.notOk(text.includes(id), 'no raw id')
    t.notOk(text.includes(id.slice(8)), 'not even its secret part')
  }
})

// Regression: each of many parallel writes fitted on its own, so together they grew a session to
// 1,653 bytes under a 1,024 limit, after which every write to it failed with a 500.
t.test('maxBytes holds under parallel writes, and the session stays writable', async (t) => {
  const server = await redisFor(t)
  const client = adminFor(t, server)
  const app = await build(t, { redis: server.url, maxBytes: 1024 })
  const dataBytes = async (): Promise<number> => {
    const [key] = await sessionKeys(server)
    const fields = storedFields(await client.get(key as string) as string)
    return Object.entries(fields).filter(([f]) => f.startsWith('d:')).reduce((sum, [f, v]) => sum + Buffer.byteLength(f) + Buffer.byteLength(v), 0)
  }
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { base: 0 } })) as string
  const results = await Promise.all(Array.from({ length: 12 }, async (_, i) =>
    await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { [`k${String.fromCharCode(97 + i)}`]: 'x'.repeat(150) } })))
  const statuses = results.map((r) => r.statusCode)
  t.equal(statuses.filter((s) => s === 200).length, 6, 'as many as fit: 6 x 156 bytes with the 7 of base')
  for (const refused of results.filter((r) => r.statusCode !== 200)) {
    t.equal(refused.statusCode, 413)
    t.equal(refused.json().code, 'SCALEOUT_ERR_SESSION_TOO_LARGE')
    // The size the refused write found: its own data and that of writes racing it (at least one more).
    const found = Number(/^Session data is (\d+) bytes, over the maxBytes of 1024 bytes; nothing was saved$/.exec(refused.json().message)?.[1])
    t.ok(found >= 1099 && (found - 7) % 156 === 0, `${found} bytes: the base and whole values`)
  }
  t.ok(await dataBytes() <= 1024, 'the stored session is within maxBytes')
  t.equal(await dataBytes(), 7 + 6 * 156)
  const shrink = await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { ka: 1, base: 1 } })
  t.equal(shrink.statusCode, 200, 'still writable')
  t.equal((await app.inject({ url: '/get/base', headers: { cookie } })).json().value, 1)
})

t.test('a session over a lowered maxBytes may shrink but not grow', async (t) => {
  const server = await redisFor(t)
  const roomy = await build(t, { redis: server.url, maxBytes: 4096 })
  const tight = await build(t, { redis: server.url, maxBytes: 256 })
  const cookie = cookieOf(await roomy.inject({ method: 'POST', url: '/set', payload: { a: 'x'.repeat(200), b: 'y'.repeat(200) } })) as string
  const grow = await tight.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { c: 1 } })
  t.equal(grow.statusCode, 413)
  t.equal(grow.json().message, 'Session data is 414 bytes, over the maxBytes of 256 bytes; nothing was saved')
  t.equal((await tight.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { a: 1 } })).statusCode, 200)
  t.same((await tight.inject({ url: '/data', headers: { cookie } })).json(), { a: 1, b: 'y'.repeat(200) })
})

// Regression: the request checked the values it wrote against maxBytes on their own, so after
// maxBytes was lowered, replacing a large value by a smaller one that was still over it was
// refused with a 413, and the session could only shrink by small steps, if at all.
t.test('a save that shrinks a session over a lowered maxBytes goes through, even with values over it', async (t) => {
  const server = await redisFor(t)
  const client = adminFor(t, server)
  const roomy = await build(t, { redis: server.url, maxBytes: 8192 })
  const tight = await build(t, { redis: server.url, maxBytes: 1000 }, {}, (app) => {
    app.post('/rename', async (request) => {
      const { from, to, length } = request.body as { from: string, to: string, length: number }
      request.session.delete(from)
      request.session.set(to, 'x'.repeat(length))
      return { ok: true }
    })
  })
  const cookie = cookieOf(await roomy.inject({ method: 'POST', url: '/set', payload: { blob: 'x'.repeat(3000), other: 'o'.repeat(3000) } })) as string
  const dataBytes = async (): Promise<number> => {
    const [key] = await sessionKeys(server)
    const fields = storedFields(await client.get(key as string) as string)
    return Object.entries(fields).filter(([f]) => f.startsWith('d:')).reduce((sum, [f, v]) => sum + Buffer.byteLength(f) + Buffer.byteLength(v), 0)
  }

  const smaller = await tight.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { blob: 'x'.repeat(2000) } })
  t.equal(smaller.statusCode, 200, 'a value replaced by a smaller one still over maxBytes')
  const renamed = await tight.inject({ method: 'POST', url: '/rename', headers: { cookie }, payload: { from: 'blob', to: 'blob2', length: 1500 } })
  t.equal(renamed.statusCode, 200, 'a key deleted and a smaller one set in the same save')
  t.same(Object.keys((await tight.inject({ url: '/data', headers: { cookie } })).json()), ['other', 'blob2'])
  t.equal(await dataBytes(), 2 + 5 + 3002 + 2 + 5 + 1502)

  const grow = await tight.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { blob2: 'x'.repeat(1600) } })
  t.equal(grow.statusCode, 413, 'a save that grows it is still refused')
  t.equal(grow.json().message, 'Session data is 1609 bytes, over the maxBytes of 1000 bytes; nothing was saved')
  const fresh = await tight.inject({ method: 'POST', url: '/set', payload: { blob: 'x'.repeat(1500) } })
  t.equal(fresh.statusCode, 413, 'a new session is bounded as before')
  t.equal(fresh.headers['set-cookie'], undefined)

  // Parallel writes that each shrink it, whatever the other did, all land (APPEND raced, then CHECK).
  const racing = await Promise.all([
    tight.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { other: 'o'.repeat(2500) } }),
    tight.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { blob2: 'x'.repeat(1200) } })
  ])
  t.same(racing.map((r) => r.statusCode), [200, 200])
  t.equal(await dataBytes(), 2 + 5 + 2502 + 2 + 5 + 1202)
})
