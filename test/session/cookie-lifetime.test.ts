import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { adminFor, redisFor, sleep, type RedisServer } from '../helpers/index.js'
import { build, cookieOf, roundTrips, setCookies, storedFields } from './setup.js'

// How long the cookie a response sends lives: never past the session's absolute deadline
// (`maxLifetime`, its `m:d` field), and in the whole seconds Max-Age carries, on the cookie, its
// Expires, the `request.session.cookie` getters and the session's Redis idle expiry alike.

const SECOND = 1000
const DAY = 86_400_000

interface Seen { before: number, after: number, expiresAt: number | null, maxAge: number | null, originalMaxAge: number | null }

/** The routes of this file, on top of setup.ts's: each reports the getters, with the clock around them. */
function routes (app: FastifyInstance): void {
  const seen = (request: { session: { cookie: { expires: Date | null, maxAge: number | null, originalMaxAge: number | null } } }, before: number): Seen => {
    const { cookie } = request.session
    const expiresAt = cookie.expires?.getTime() ?? null
    const maxAge = cookie.maxAge
    return { before, after: Date.now(), expiresAt, maxAge, originalMaxAge: cookie.originalMaxAge }
  }
  app.get('/cookie', async (request) => seen(request, Date.now()))
  app.post('/remember', async (request) => {
    const { maxAge, userId } = request.body as { maxAge: number | string, userId?: string }
    if (userId !== undefined) {
      await request.session.regenerate()
      request.session.set('userId', userId)
    }
    const before = Date.now()
    request.session.cookie.maxAge = maxAge
    return seen(request, before)
  })
  app.post('/start', async (request) => {
    request.session.set('n', 1)
    return seen(request, Date.now())
  })
}

/** The exact Set-Cookie a response with a Max-Age sends. */
function header (res: LightMyRequestResponse, maxAgeSeconds: number, expiresAt: number): string {
  return `${cookieOf(res) as string}; Max-Age=${maxAgeSeconds}; Path=/; Expires=${new Date(expiresAt).toUTCString()}; HttpOnly; SameSite=Lax`
}

/** The Max-Age the response's session cookie was sent with, in seconds. */
function maxAgeOf (res: LightMyRequestResponse): number {
  return Number((/; Max-Age=(\d+);/.exec(setCookies(res)[0] as string) as RegExpExecArray)[1])
}

/** The one session's key in Redis (not a regenerated session's forwarding record), its fields and its PTTL. */
async function stored (t: Test, server: RedisServer): Promise<{ key: string, fields: Record<string, string>, pttl: number }> {
  const client = adminFor(t, server)
  for (const key of await client.keys('scaleout:sess:{*')) {
    const text = await client.get(key)
    if (text !== null && !text.startsWith('{"m:n":')) return { key, fields: storedFields(text), pttl: await client.pttl(key) }
  }
  throw new Error('no session stored')
}

t.test('a "remember me" longer than maxLifetime: Max-Age and Expires end with the session, not 30 days on', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url, maxLifetime: '7d' }, {}, routes)
  const login = await app.inject({ method: 'POST', url: '/remember', payload: { userId: 'u1', maxAge: '30d' } })
  const body = login.json() as Seen & { expiresAt: number, maxAge: number }
  t.same(setCookies(login), [header(login, 604_800, body.expiresAt)], 'a session created now: maxLifetime, not the 30 days asked')
  t.ok(body.expiresAt - 7 * DAY >= body.before && body.expiresAt - 7 * DAY <= body.after, 'expires: 7 days from when it was asked')
  t.ok(body.maxAge <= 7 * DAY && body.maxAge > 7 * DAY - SECOND, 'maxAge: what is left of those 7 days')
  t.equal(body.originalMaxAge, 30 * DAY, 'originalMaxAge: the maxAge asked')
  const { fields, pttl } = await stored(t, server)
  const deadline = Number(fields['m:d'])
  t.ok(body.expiresAt <= deadline, 'the cookie expires no later than the server ends the session')
  t.ok(pttl > 29 * DAY, 'the Redis idle expiry is its own 30 days (never capped at the deadline, see expiry.ts)')

  // A later request: what is left to the deadline, in whole seconds, from when it was asked.
  await sleep(20)
  const read = await app.inject({ url: '/cookie', headers: { cookie: cookieOf(login) as string } })
  const seen = read.json() as Seen & { expiresAt: number }
  const seconds = maxAgeOf(read)
  const asked = seen.expiresAt - seconds * SECOND
  t.ok(asked >= seen.before && asked <= seen.after, 'Max-Age counts from when the getter was first read')
  t.equal(seconds, Math.floor((deadline - asked) / SECOND), 'Max-Age: the whole seconds left to the deadline')
  t.ok(seconds < 604_800, 'less than 7 days: the deadline did not move')
  t.same(setCookies(read), [header(read, seconds, seen.expiresAt)], 'Expires is the expires getter')
  t.ok(seen.expiresAt <= deadline && seen.expiresAt > deadline - SECOND, 'expires: within the second before the deadline')
  t.equal(seen.originalMaxAge, 30 * DAY)
})

t.test("the plugin's cookie.maxAge longer than maxLifetime is capped the same way", async (t) => {
  const server = await redisFor(t)
  // The default maxLifetime: 7 days.
  const app = await build(t, { redis: server.url, cookie: { maxAge: '30d' } }, {}, routes)
  const created = await app.inject({ method: 'POST', url: '/start' })
  const body = created.json() as Seen & { expiresAt: number }
  t.same(setCookies(created), [header(created, 604_800, body.expiresAt)])
  t.ok(body.expiresAt - 7 * DAY >= body.before && body.expiresAt - 7 * DAY <= body.after)
  t.equal(body.originalMaxAge, 30 * DAY)
  const deadline = Number((await stored(t, server)).fields['m:d'])
  t.ok(body.expiresAt <= deadline)
  await sleep(20)
  const read = await app.inject({ url: '/cookie', headers: { cookie: cookieOf(created) as string } })
  const seen = read.json() as Seen & { expiresAt: number }
  const seconds = maxAgeOf(read)
  t.equal(seconds, Math.floor((deadline - (seen.expiresAt - seconds * SECOND)) / SECOND))
  t.same(setCookies(read), [header(read, seconds, seen.expiresAt)])
})

t.test("a cookie counts down to its session's deadline, drops in its last second, and regenerate() restarts it", async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url, maxLifetime: '3s', cookie: { maxAge: '1h' } }, {}, routes)
  const login = await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u1' } })
  t.match(setCookies(login)[0], /; Max-Age=3; Path=\/; Expires=/)
  const cookie = cookieOf(login) as string
  const deadline = Number((await stored(t, server)).fields['m:d'])

  // The plugin's clock (Date.now, which it checks the deadline with) set by the test, not slept to:
  // a loaded machine cannot carry a request past the moment it is meant to run at.
  const realNow = Date.now.bind(Date)
  let at: number | undefined
  t.capture(Date, 'now', () => at ?? realNow())

  // 1.5 s before the deadline: 1 s left in whole seconds.
  at = deadline - 1500
  const read = await app.inject({ url: '/cookie', headers: { cookie } })
  const seen = read.json() as Seen & { expiresAt: number }
  t.same(setCookies(read), [header(read, 1, at + SECOND)], 'Max-Age=1, not the hour of cookie.maxAge')
  t.same([seen.before, seen.after, seen.expiresAt], [at, at, at + SECOND])
  t.equal(seen.originalMaxAge, 3_600_000)

  // regenerate() restarts maxLifetime, and with it the cookie's lifetime.
  at = undefined
  const regenerated = await app.inject({ method: 'POST', url: '/login', headers: { cookie }, payload: { userId: 'u1' } })
  t.match(setCookies(regenerated)[0], /; Max-Age=3; Path=\/; Expires=/)
  const renewed = cookieOf(regenerated) as string
  const next = Number((await stored(t, server)).fields['m:d'])
  t.ok(next > deadline)

  // In the last second before the deadline the session still answers, and its cookie is sent with
  // Max-Age=0: the browser drops it now rather than keep it past the session.
  at = next - 500
  const last = await app.inject({ url: '/cookie', headers: { cookie: renewed } })
  const lastSeen = last.json() as Seen & { expiresAt: number }
  t.same(setCookies(last), [header(last, 0, at)])
  t.equal(lastSeen.expiresAt, at, 'expires: when it was asked')
})

t.test('a part-second own maxAge is whole seconds on the cookie, its Expires, the getters and Redis', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url }, {}, routes)
  const login = await app.inject({ method: 'POST', url: '/remember', payload: { userId: 'u1', maxAge: 1500 } })
  const body = login.json() as Seen & { expiresAt: number }
  t.same(setCookies(login), [header(login, 1, body.expiresAt)])
  t.ok(body.expiresAt - SECOND >= body.before && body.expiresAt - SECOND <= body.after, 'Expires: 1 s on, as Max-Age says, not 1.5 s')
  t.equal(body.originalMaxAge, SECOND)
  const { fields, pttl } = await stored(t, server)
  t.equal(fields['m:o'], '{"maxAge":1000}', 'stored as the whole seconds it is used as')
  t.ok(pttl > 0 && pttl <= SECOND, `Redis forgets it with its cookie (PTTL ${pttl})`)
})

t.test('a part-second plugin cookie.maxAge is whole seconds on the cookie, its Expires, the getters and Redis', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url, cookie: { maxAge: 2500 } }, {}, routes)
  const created = await app.inject({ method: 'POST', url: '/start' })
  const body = created.json() as Seen & { expiresAt: number }
  t.same(setCookies(created), [header(created, 2, body.expiresAt)])
  t.ok(body.expiresAt - 2 * SECOND >= body.before && body.expiresAt - 2 * SECOND <= body.after, 'Expires: 2 s on, not 2.5 s')
  t.equal(body.originalMaxAge, 2 * SECOND)
  const { pttl } = await stored(t, server)
  t.ok(pttl > SECOND && pttl <= 2 * SECOND, `Redis forgets it with its cookie (PTTL ${pttl})`)
})

t.test('a part-second maxAge stored by an earlier version reads as its whole seconds', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url }, {}, routes)
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/remember', payload: { userId: 'u1', maxAge: '1h' } })) as string
  const { key, fields } = await stored(t, server)
  const client = adminFor(t, server)
  await client.set(key, JSON.stringify({ ...fields, 'm:o': '{"maxAge":3600500}' }), 'PX', 60_000)
  const read = await roundTrips(server, async () => await app.inject({ url: '/cookie', headers: { cookie } }))
  const seen = read.result.json() as Seen & { expiresAt: number }
  t.equal(seen.originalMaxAge, 3_600_000)
  t.same(setCookies(read.result), [header(read.result, 3600, seen.expiresAt)])
  t.ok(seen.expiresAt - 3_600_000 >= seen.before && seen.expiresAt - 3_600_000 <= seen.after)
  t.same(read.commands, { getex: 1, pexpire: 1 }, 'what a session with its own maxAge costs on an instance that has not read it')
  const pttl = await client.pttl(key)
  t.ok(pttl > 3_590_000 && pttl <= 3_600_000, `idle for the whole seconds (PTTL ${pttl})`)
})
