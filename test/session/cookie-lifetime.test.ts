import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { adminFor, redisFor, type RedisServer } from '../helpers/index.js'
import { build, cookieOf, roundTrips, setCookies, storedFields } from './setup.js'

// How long the cookie a response sends lives: in the whole seconds Max-Age carries, on the cookie,
// its Expires, the `request.session.cookie` getters and the session's Redis idle expiry alike.

const SECOND = 1000

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

/** The one session's key in Redis (not a regenerated session's forwarding record), its fields and its PTTL. */
async function stored (t: Test, server: RedisServer): Promise<{ key: string, fields: Record<string, string>, pttl: number }> {
  const client = adminFor(t, server)
  for (const key of await client.keys('scaleout:sess:{*')) {
    const text = await client.get(key)
    if (text !== null && !text.startsWith('{"m:n":')) return { key, fields: storedFields(text), pttl: await client.pttl(key) }
  }
  throw new Error('no session stored')
}

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
