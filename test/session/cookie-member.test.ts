import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { adminFor, redisFor, sleep, type RedisServer } from '../helpers/index.js'
import { build, cookieOf, roundTrips, setCookies, storedFields } from './setup.js'

const VALUE = /[A-Za-z0-9_-]{51}\.[A-Za-z0-9_-]{43}/.source
const HOUR = 3_600_000
const DAY = 24 * HOUR

/** The routes of this file, on top of setup.ts's. */
function routes (app: FastifyInstance): void {
  // What the handler sees, with the clock around the look at maxAge (it counts down).
  app.get('/cookie', async (request) => {
    const before = Date.now()
    const { cookie } = request.session
    const maxAge = cookie.maxAge
    return { before, after: Date.now(), maxAge, json: cookie.toJSON(), expiresAt: cookie.expires?.getTime() ?? null }
  })
  app.post('/remember', async (request) => {
    const { maxAge, userId } = request.body as { maxAge: number | string | null, userId?: string }
    if (userId !== undefined) {
      await request.session.regenerate()
      request.session.set('userId', userId)
    }
    request.session.cookie.maxAge = maxAge
    return { expiresAt: request.session.cookie.expires?.getTime() ?? null, originalMaxAge: request.session.cookie.originalMaxAge, modified: request.session.isModified() }
  })
  app.post('/regenerate', async (request) => {
    await request.session.regenerate(['userId'])
    return { originalMaxAge: request.session.cookie.originalMaxAge }
  })
  app.post('/touch', async (request) => {
    request.session.touch()
    return { ok: true }
  })
  app.post('/destroy-and-start', async (request) => {
    await request.session.destroy()
    request.session.set('n', 1)
    return { originalMaxAge: request.session.cookie.originalMaxAge }
  })
  app.post('/set-attribute', async (request) => {
    const { name, value } = request.body as { name: string, value: unknown }
    ;(request.session.cookie as unknown as Record<string, unknown>)[name] = value
    return { ok: true }
  })
  app.get('/lazy-cookie', { config: { session: 'lazy' } }, async (request) => request.session.cookie.maxAge)
  app.get('/off-cookie', { config: { session: false } }, async (request) => request.session.cookie.maxAge)
}

async function pttl (t: Test, server: RedisServer): Promise<number[]> {
  const client = adminFor(t, server)
  const keys = (await client.keys('scaleout:sess:{*')).sort()
  return await Promise.all(keys.map(async (key) => await client.pttl(key)))
}

async function storedOwn (t: Test, server: RedisServer): Promise<Array<string | undefined>> {
  const client = adminFor(t, server)
  const keys = await client.keys('scaleout:sess:{*')
  const texts = keys.length === 0 ? [] : await client.mget(keys)
  return texts.filter((text) => text !== null && !text.startsWith('{"m:n":')).map((text) => storedFields(text)['m:o'])
}

function expiresOf (res: LightMyRequestResponse): number {
  const match = /; Expires=([^;]+)/.exec(setCookies(res)[0] as string)
  return Date.parse((match as RegExpExecArray)[1] as string)
}

t.test('without a Max-Age: a browser-session cookie, expires and maxAge null', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url }, {}, routes)
  const created = await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })
  t.match(setCookies(created)[0], new RegExp(`^sessionId=${VALUE}; Path=/; HttpOnly; SameSite=Lax$`))
  const read = await app.inject({ url: '/cookie', headers: { cookie: cookieOf(created) as string } })
  const body = read.json()
  t.equal(body.maxAge, null)
  t.equal(body.expiresAt, null)
  t.same(body.json, { expires: null, originalMaxAge: null, path: '/', domain: null, secure: false, sameSite: 'lax', httpOnly: true, partitioned: false })
  t.same(setCookies(read), [], 'a read sends no cookie (nothing rolls)')
  t.same((await app.inject('/cookie')).json().json.originalMaxAge, null, 'a new session too')
})

t.test("the plugin's cookie.maxAge: originalMaxAge, and expires is the Expires sent", async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url, cookie: { maxAge: '1h' } }, {}, routes)
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  const read = await app.inject({ url: '/cookie', headers: { cookie } })
  const body = read.json()
  t.equal(body.json.originalMaxAge, HOUR)
  t.equal(new Date(body.json.expires).getTime(), body.expiresAt)
  t.ok(body.expiresAt - body.maxAge >= body.before && body.expiresAt - body.maxAge <= body.after, 'maxAge: milliseconds left until expires')
  t.match(setCookies(read)[0], new RegExp(`^sessionId=${VALUE}; Max-Age=3600; Path=/; Expires=${new Date(body.expiresAt).toUTCString()}; HttpOnly; SameSite=Lax$`))
})

t.test('"remember me": cookie.maxAge set on one session, for that session only, on every instance', async (t) => {
  const server = await redisFor(t)
  const options = { redis: server.url, maxLifetime: '60d' }
  const one = await build(t, options, {}, routes)
  const two = await build(t, options, {}, routes)
  const other = cookieOf(await one.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string

  const login = await roundTrips(server, async () => await one.inject({ method: 'POST', url: '/remember', payload: { userId: 'u1', maxAge: '30d' } }))
  const body = login.result.json()
  t.equal(body.originalMaxAge, 30 * DAY)
  t.equal(body.modified, true)
  t.match(setCookies(login.result)[0], new RegExp(`^sessionId=${VALUE}; Max-Age=2592000; Path=/; Expires=${new Date(body.expiresAt).toUTCString()}; HttpOnly; SameSite=Lax$`))
  t.same(login.commands, { evalsha: 1, time: 1, set: 1, zadd: 1, zremrangebyscore: 1, zrange: 1, pexpireat: 1, zcard: 1 }, 'created (and indexed) with its own idle expiry: no PEXPIRE')
  t.equal(login.trips, 1)
  const remembered = cookieOf(login.result) as string
  t.same((await storedOwn(t, server)).sort(), ['{"maxAge":2592000000}', undefined], 'undefined sorts last')

  // The other instance reads it: the cookie rolls with its own Max-Age, Redis keeps it 30 days.
  const read = await roundTrips(server, async () => await two.inject({ url: '/cookie', headers: { cookie: remembered } }))
  t.equal(read.result.json().json.originalMaxAge, 30 * DAY)
  t.match(setCookies(read.result)[0], new RegExp(`^sessionId=${VALUE}; Max-Age=2592000; Path=/; Expires=${new Date(read.result.json().expiresAt).toUTCString()}; HttpOnly; SameSite=Lax$`))
  t.same(read.commands, { getex: 1, pexpire: 1 }, 'the first read on this instance slides it by ttl, then sets its 30 days')
  t.equal(read.trips, 2)
  const client = adminFor(t, server)
  const keyOf = async (cookie: string): Promise<string> => {
    for (const key of await client.keys('scaleout:sess:{*')) {
      if (cookie.includes(key.slice('scaleout:sess:{'.length).replace('}:', ''))) return key
    }
    return ''
  }
  const rememberedTtl = await client.pttl(await keyOf(remembered))
  t.ok(rememberedTtl > 29 * DAY && rememberedTtl <= 30 * DAY, 'its own idle expiry: 30 days')

  // The session without one: a browser-session cookie, the plugin's idle expiry, one command.
  const plain = await roundTrips(server, async () => await two.inject({ url: '/cookie', headers: { cookie: other } }))
  t.equal(plain.result.json().json.originalMaxAge, null)
  t.same(setCookies(plain.result), [])
  t.same(plain.commands, { getex: 1 })
  const plainTtl = await client.pttl(await keyOf(other))
  t.ok(plainTtl > DAY - HOUR && plainTtl <= DAY, 'the plugin ttl: 24 hours')

  // A write of the remembered session keeps its idle expiry; setting the same maxAge writes nothing.
  const write = await roundTrips(server, async () => await two.inject({ method: 'POST', url: '/set', headers: { cookie: remembered }, payload: { n: 2 } }))
  t.same(write.commands, { getex: 1, append: 1, pexpire: 1 }, 'this instance read it before: the GETEX slides it by its 30 days, and the PEXPIRE behind the APPEND by the same')
  t.equal(write.trips, 2)
  const afterWrite = await client.pttl(await keyOf(remembered))
  t.ok(afterWrite > 29 * DAY, 'still 30 days after a write')
  // A write that changes the user goes through the merging script, which slides by the session's own idle time.
  const merged = await roundTrips(server, async () => await two.inject({ method: 'POST', url: '/set', headers: { cookie: remembered }, payload: { userId: 'u2', n: 3 } }))
  t.equal(merged.commands.pexpire, undefined, 'neither after the read nor after the write')
  t.equal((merged.commands.eval ?? 0) + (merged.commands.evalsha ?? 0), 1, 'the merging script (the first on this instance is an EVAL)')
  t.ok(await client.pttl(await keyOf(remembered)) > 29 * DAY, 'still 30 days after a merging write')
  const same = await roundTrips(server, async () => await one.inject({ method: 'POST', url: '/remember', headers: { cookie: remembered }, payload: { maxAge: 30 * DAY } }))
  t.same(same.commands, { getex: 1, pexpire: 1 }, 'the same maxAge again: no write')
  t.equal(same.result.json().modified, false)

  // listFor: lastSeenAt counts back from the session's own idle expiry.
  const before = Date.now()
  await one.inject({ url: '/cookie', headers: { cookie: remembered } })
  const [info] = await one.sessions.listFor('u2')
  t.ok((info?.lastSeenAt.getTime() as number) >= before - 1 && (info?.lastSeenAt.getTime() as number) <= Date.now(), 'last seen at the read, not in the future')
})

t.test('a shorter own maxAge ends the session on the server when its cookie expires', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url, cookie: { maxAge: '1h' } }, {}, routes)
  const login = await app.inject({ method: 'POST', url: '/remember', payload: { userId: 'u1', maxAge: 1000 } })
  t.match(setCookies(login)[0], /; Max-Age=1; Path=\/; Expires=/)
  const cookie = cookieOf(login) as string
  const [ttl] = await pttl(t, server)
  t.ok((ttl as number) > 0 && (ttl as number) <= 1000, 'Redis forgets it with its cookie')
  await sleep(expiresOf(login) - Date.now() + 1100)
  const replay = await app.inject({ url: '/get/userId', headers: { cookie } })
  t.same(replay.json(), { value: null }, 'a cookie replayed after its Expires finds no session')
  t.match(setCookies(replay)[0], /^sessionId=; Max-Age=0/)
})

t.test('a longer own maxAge does not outlive maxLifetime', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url, maxLifetime: 1000 }, {}, routes)
  const login = await app.inject({ method: 'POST', url: '/remember', payload: { userId: 'u1', maxAge: '30d' } })
  t.match(setCookies(login)[0], /; Max-Age=1; /, 'nor does its cookie: it expires with the session, not in 30 days')
  await sleep(1100)
  const late = await app.inject({ url: '/get/userId', headers: { cookie: cookieOf(login) as string } })
  t.same(late.json(), { value: null }, 'past the absolute deadline the session is gone, whatever its cookie says')
  t.match(setCookies(late)[0], /^sessionId=; Max-Age=0/)
})

t.test('maxAge null: a browser-session cookie for this session, idle for ttl', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url, ttl: '2h', cookie: { maxAge: '1h' } }, {}, routes)
  const login = await app.inject({ method: 'POST', url: '/remember', payload: { userId: 'u1', maxAge: null } })
  t.match(setCookies(login)[0], new RegExp(`^sessionId=${VALUE}; Path=/; HttpOnly; SameSite=Lax$`))
  t.same(login.json(), { expiresAt: null, originalMaxAge: null, modified: true })
  const [ttl] = await pttl(t, server)
  t.ok((ttl as number) > HOUR && (ttl as number) <= 2 * HOUR, 'the ttl option, not the shorter cookie.maxAge')
  const read = await roundTrips(server, async () => await app.inject({ url: '/cookie', headers: { cookie: cookieOf(login) as string } }))
  t.same(setCookies(read.result), [], 'nothing to roll')
  t.same(read.commands, { getex: 1, pexpire: 1 })
  t.same(await storedOwn(t, server), ['{"maxAge":null}'])
})

t.test('an own maxAge changed back to the idle time of the plugin: the write sets the expiry to it', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url }, {}, routes)
  const login = await app.inject({ method: 'POST', url: '/remember', payload: { userId: 'u1', maxAge: '30d' } })
  const cookie = cookieOf(login) as string
  t.ok(((await pttl(t, server))[0] as number) > 29 * DAY, 'remembered: 30 days')
  // The read sets the session's 30 days again; an append would leave that, so the change merges.
  const changed = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/remember', headers: { cookie }, payload: { maxAge: DAY } }))
  const { eval: evals = 0, evalsha = 0, ...others } = changed.commands
  t.same(others, { getex: 1, pexpire: 1, get: 1, time: 1, set: 1 }, "after the read, its 30 days; the merging script sets the plugin's 24 hours")
  t.equal(evals + evalsha, 1)
  t.equal(changed.trips, 3)
  const [ttl] = await pttl(t, server)
  t.ok((ttl as number) > DAY - HOUR && (ttl as number) <= DAY, 'idle for 24 hours from now on')
  t.same(await storedOwn(t, server), [`{"maxAge":${DAY}}`])
  // This instance last read the session with its 30 days: its next read slides it by those, and
  // finds 24 hours in the text.
  const read = await roundTrips(server, async () => await app.inject({ url: '/cookie', headers: { cookie } }))
  t.same(read.commands, { getex: 1, pexpire: 1 }, 'the 30 days this instance knew, then the 24 hours the text has')
  t.equal(read.result.json().json.originalMaxAge, DAY)
  const [after] = await pttl(t, server)
  t.ok((after as number) > DAY - HOUR && (after as number) <= DAY)
  const next = await roundTrips(server, async () => await app.inject({ url: '/cookie', headers: { cookie } }))
  t.same(next.commands, { getex: 1 }, "an own idle time equal to the plugin's costs no PEXPIRE")
})

t.test('kept by regenerate(), and by its cookie; gone with destroy()', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url, maxLifetime: '30d' }, {}, routes)
  const login = await app.inject({ method: 'POST', url: '/remember', payload: { userId: 'u1', maxAge: '7d' } })
  const regenerated = await app.inject({ method: 'POST', url: '/regenerate', headers: { cookie: cookieOf(login) as string } })
  t.same(regenerated.json(), { originalMaxAge: 7 * DAY })
  t.match(setCookies(regenerated)[0], /; Max-Age=604800; Path=\/; Expires=/)
  t.not(cookieOf(regenerated), cookieOf(login))
  t.same(await storedOwn(t, server), ['{"maxAge":604800000}'], 'the new session has it (the old one is a forwarding record)')
  const started = await app.inject({ method: 'POST', url: '/destroy-and-start', headers: { cookie: cookieOf(regenerated) as string } })
  t.same(started.json(), { originalMaxAge: null }, 'a session started after destroy() follows the plugin again')
  t.match(setCookies(started)[0], new RegExp(`^sessionId=${VALUE}; Path=/; HttpOnly; SameSite=Lax$`))
  t.same(await storedOwn(t, server), [undefined])
})

t.test('touch() sends the cookie with a fresh Expires', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url }, {}, routes)
  const login = await app.inject({ method: 'POST', url: '/remember', payload: { userId: 'u1', maxAge: '1d' } })
  await sleep(1100)
  const touched = await app.inject({ method: 'POST', url: '/touch', headers: { cookie: cookieOf(login) as string } })
  t.match(setCookies(touched)[0], /; Max-Age=86400; Path=\/; Expires=/)
  t.ok(expiresOf(touched) > expiresOf(login))
})

t.test('invalid values and read-only attributes are coded errors', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url }, {}, routes)
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  for (const bad of [999, 'soon', -1, false, {}]) {
    const res = await app.inject({ method: 'POST', url: '/remember', headers: { cookie }, payload: { maxAge: bad } })
    t.equal(res.statusCode, 500)
    t.equal(res.json().code, 'SCALEOUT_ERR_INVALID_OPTION')
    t.match(res.json().message, /option `session\.cookie\.maxAge` is invalid: expected a duration from 1s to 36500d/)
  }
  for (const name of ['expires', 'path', 'domain', 'secure', 'sameSite', 'httpOnly', 'partitioned']) {
    const res = await app.inject({ method: 'POST', url: '/set-attribute', headers: { cookie }, payload: { name, value: null } })
    t.equal(res.json().code, 'SCALEOUT_ERR_INVALID_OPTION', name)
    t.match(res.json().message, `option \`session.cookie.${name}\` is invalid: expected not set directly: call \`request.session.options({ ${name === 'expires' ? 'maxAge' : name} })\``)
  }
  const lazy = await app.inject({ url: '/lazy-cookie', headers: { cookie } })
  t.equal(lazy.json().code, 'SCALEOUT_ERR_SESSION_NOT_LOADED')
  t.equal((await app.inject('/off-cookie')).json().code, 'SCALEOUT_ERR_SESSION_DISABLED')
})

t.test('stored attributes that are not valid count as none', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url }, {}, routes)
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/remember', payload: { userId: 'u1', maxAge: '1d' } })) as string
  const client = adminFor(t, server)
  const [key] = await client.keys('scaleout:sess:{*')
  const stored = storedFields(await client.get(key as string))
  for (const bad of ['not json', '{"maxAge":5}', '[]', '{"domain":"a;b"}']) {
    await client.set(key as string, JSON.stringify({ ...stored, 'm:o': bad }), 'PX', 60_000)
    const read = await roundTrips(server, async () => await app.inject({ url: '/cookie', headers: { cookie } }))
    t.equal(read.result.json().json.originalMaxAge, null, bad)
    t.same(read.commands, { getex: 1 }, `${bad}: the plugin's idle expiry`)
  }
})
