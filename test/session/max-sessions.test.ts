import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { adminFor, redisFor, RedisClusterHarness } from '../helpers/index.js'
import { build, cookieOf, roundTrips, sessionKeys, valueOf } from './setup.js'

// maxSessionsPerUser bounds what one user's logins can grow: the index and the sessions it lists.
// A login past the bound ends that user's sessions logged in longest ago.

/** The session id a cookie carries. */
function idOf (cookie: string): string {
  const value = valueOf(cookie)
  return value.slice(0, value.lastIndexOf('.'))
}

/** A session route to log in on an existing session by setting the user key (the merging write). */
function routes (app: FastifyInstance): void {
  app.post('/regenerate-keeping-user', async (request) => {
    await request.session.regenerate(['userId'])
    return { ok: true }
  })
}

/**
 * Logs in as `userId`. Index entries are scored by Redis's clock in milliseconds, and logins within
 * one millisecond have no order among them: sequential logins here wait 2 ms first, so that their
 * order is the order of the calls.
 */
async function loginAs (app: FastifyInstance, userId: string, wait = true): Promise<string> {
  if (wait) await new Promise((resolve) => setTimeout(resolve, 2))
  const res = await app.inject({ method: 'POST', url: '/login', payload: { userId } })
  if (res.statusCode !== 200) throw new Error(`login answered ${res.statusCode}: ${res.body}`)
  return cookieOf(res) as string
}

async function userOf (app: FastifyInstance, cookie: string): Promise<unknown> {
  return (await app.inject({ url: '/get/userId', headers: { cookie } })).json().value
}

t.test('on a standalone Redis', async (t) => {
  const server = await redisFor(t)
  t.beforeEach(async () => await server.flushAll())
  const client = adminFor(t, server)
  const app = await build(t, { redis: server.url, maxSessionsPerUser: 3 }, {}, routes)
  const index = async (user: string): Promise<string[]> => await client.zrange(`scaleout:sess:user:{${user}}`, '0', '-1')

  t.test('a fourth and fifth login end the two oldest sessions; the others and other users are untouched', async (t) => {
    const bob = await loginAs(app, 'bob')
    const cookies: string[] = []
    for (let i = 0; i < 5; i++) cookies.push(await loginAs(app, 'alice'))
    t.same(await Promise.all(cookies.map(async (c) => await userOf(app, c))), [null, null, 'alice', 'alice', 'alice'])
    t.same(await index('alice'), cookies.slice(2).map(idOf), 'the index lists the three newest, oldest first')
    t.same(await client.exists(...cookies.slice(0, 2).map((c) => `scaleout:sess:{${idOf(c).slice(0, 8)}}:${idOf(c).slice(8)}`)), 0, 'the ended sessions are deleted from Redis')
    t.equal((await sessionKeys(server)).length, 4, "alice's three and bob's one")
    t.same((await app.sessions.listFor('alice')).length, 3)
    t.equal(await userOf(app, bob), 'bob')
    t.same(await index('bob'), [idOf(bob)])
  })

  t.test('a login by setting the user key on an existing session counts and evicts as well', async (t) => {
    const first = await loginAs(app, 'carol')
    await loginAs(app, 'carol')
    await loginAs(app, 'carol')
    const anonymous = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const set = await app.inject({ method: 'POST', url: '/set', headers: { cookie: anonymous }, payload: { userId: 'carol' } })
    t.equal(set.statusCode, 200)
    t.equal(await userOf(app, anonymous), 'carol')
    t.equal(await userOf(app, first), null, 'the oldest is logged out')
    t.equal((await index('carol')).length, 3)
  })

  t.test('round trips: a login within the bound costs what it did; one past it, two more (the destroys in parallel, then the index)', async (t) => {
    await loginAs(app, 'dave')
    await loginAs(app, 'dave')
    const within = await roundTrips(server, async () => await loginAs(app, 'dave'))
    t.equal(within.trips, 1)
    t.same(within.commands, { evalsha: 1, time: 1, set: 1, zadd: 1, zremrangebyscore: 1, zrange: 1, pexpireat: 1, zcard: 1 })
    const past = await roundTrips(server, async () => await loginAs(app, 'dave'))
    t.equal(past.trips, 3)
    t.same(past.commands, { evalsha: 3, time: 2, set: 1, zadd: 1, zremrangebyscore: 1, zrange: 2, pexpireat: 1, zcard: 1, get: 1, del: 1, zrem: 1 })
  })

  t.test('parallel logins of one user end at exactly the bound: racing logins cannot each count below it', async (t) => {
    const cookies = await Promise.all(Array.from({ length: 12 }, async () => await loginAs(app, 'erin', false)))
    const users = await Promise.all(cookies.map(async (c) => await userOf(app, c)))
    const live = cookies.filter((_, i) => users[i] === 'erin')
    t.equal(live.length, 3)
    t.same((await index('erin')).sort(), live.map(idOf).sort(), 'the index lists exactly the live sessions')
    t.equal((await sessionKeys(server)).length, 3, 'no session outlives its index entry')
  })

  t.test('entries whose session already ended count, and are ended first: being oldest', async (t) => {
    const gone = await loginAs(app, 'gil')
    // As an idle expiry would: the session is gone, its entry stays.
    await client.del(`scaleout:sess:{${idOf(gone).slice(0, 8)}}:${idOf(gone).slice(8)}`)
    const kept = [await loginAs(app, 'gil'), await loginAs(app, 'gil'), await loginAs(app, 'gil')]
    t.same(await Promise.all(kept.map(async (c) => await userOf(app, c))), ['gil', 'gil', 'gil'])
    t.same(await index('gil'), kept.map(idOf))
  })

  t.test('a lower bound than the sessions a user has: the next login ends the oldest down to it', async (t) => {
    const roomy = await build(t, { redis: server.url, maxSessionsPerUser: 10 })
    const cookies: string[] = []
    for (let i = 0; i < 5; i++) cookies.push(await loginAs(roomy, 'hana'))
    cookies.push(await loginAs(app, 'hana'))
    t.same(await Promise.all(cookies.map(async (c) => await userOf(app, c))), [null, null, null, 'hana', 'hana', 'hana'])
    t.same(await index('hana'), cookies.slice(3).map(idOf))
  })

  t.test('a regenerate() is a newer login: it moves the session to the end of the queue', async (t) => {
    const first = await loginAs(app, 'fay')
    const second = await loginAs(app, 'fay')
    const third = await loginAs(app, 'fay')
    await new Promise((resolve) => setTimeout(resolve, 2))
    const { result, trips } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/regenerate-keeping-user', headers: { cookie: first } }))
    t.equal(trips, 2, 'at the bound, a regenerate() costs what it costs below it (load and swap): its old entry leaves before its new one counts')
    const renewed = cookieOf(result) as string
    t.same(await index('fay'), [second, third, renewed].map(idOf))
    await loginAs(app, 'fay')
    t.equal(await userOf(app, renewed), 'fay', 'regenerated after the others: not the oldest')
    t.equal(await userOf(app, second), null, 'the oldest login left is ended')
  })
})

t.test('maxSessionsPerUser: 1 is one session per user: each login logs the previous one out', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url, maxSessionsPerUser: 1 })
  const laptop = await loginAs(app, 'gus')
  const phone = await loginAs(app, 'gus')
  t.equal(await userOf(app, laptop), null)
  t.equal(await userOf(app, phone), 'gus')
  t.equal((await sessionKeys(server)).length, 1)
})

t.test('the default bound is 100 sessions per user', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url })
  const first = await loginAs(app, 'hal')
  const second = await loginAs(app, 'hal')
  for (let i = 0; i < 98; i++) await loginAs(app, 'hal')
  t.equal(await userOf(app, first), 'hal', 'a hundredth login ends nobody')
  await loginAs(app, 'hal')
  t.equal(await userOf(app, first), null, 'the hundred and first ends the oldest')
  t.equal(await userOf(app, second), 'hal')
  t.equal((await sessionKeys(server)).length, 100)
})

t.test('on a real 3-master Redis Cluster (the index is in the user\'s slot, updated by its own call)', async (t) => {
  const cluster = await RedisClusterHarness.start()
  t.teardown(async () => await cluster.stop())
  const client = cluster.client()
  t.teardown(() => client.disconnect())
  const app = await build(t, { redis: { cluster: cluster.urls }, maxSessionsPerUser: 2 }, {}, (app) => {
    routes(app)
    app.post('/destroyed-then-regenerated', async (request) => {
      await client.del(`scaleout:sess:{${request.session.id.slice(0, 8)}}:${request.session.id.slice(8)}`)
      await request.session.regenerate(['userId'])
      return { userId: request.session.get('userId') ?? null }
    })
    app.post('/destroyed-then-user-set', async (request) => {
      await client.del(`scaleout:sess:{${request.session.id.slice(0, 8)}}:${request.session.id.slice(8)}`)
      request.session.set('userId', (request.body as { userId: string }).userId)
      return { ok: true }
    })
  })
  const index = async (user: string): Promise<string[]> => await client.zrange(`scaleout:sess:user:{${user}}`, '0', '-1')

  t.test('a login past the bound ends the oldest', async (t) => {
    const cookies: string[] = []
    for (let i = 0; i < 4; i++) cookies.push(await loginAs(app, 'ida'))
    t.same(await Promise.all(cookies.map(async (c) => await userOf(app, c))), [null, null, 'ida', 'ida'])
    t.same(await index('ida'), cookies.slice(2).map(idOf))
  })

  t.test('a regenerated session\'s stale entry is ended as an entry, not followed to the session it became', async (t) => {
    // On a Cluster a regenerate() leaves the old id in the index (listFor prunes it); it is the oldest.
    const first = await loginAs(app, 'jo')
    await new Promise((resolve) => setTimeout(resolve, 2))
    const renewed = cookieOf(await app.inject({ method: 'POST', url: '/regenerate-keeping-user', headers: { cookie: first } })) as string
    t.same(await index('jo'), [idOf(first), idOf(renewed)])
    const other = await loginAs(app, 'jo')
    t.equal(await userOf(app, renewed), 'jo', 'what the stale entry forwards to has an entry of its own, newer: it stays')
    t.equal(await userOf(app, other), 'jo')
    t.same(await index('jo'), [idOf(renewed), idOf(other)])
    await loginAs(app, 'jo')
    t.equal(await userOf(app, renewed), null, 'now the oldest: ended')
  })

  t.test('a login that does not land ends nobody', async (t) => {
    const oldest = await loginAs(app, 'lee')
    const current = await loginAs(app, 'lee')
    // The regenerate() finds its session gone (destroyed meanwhile): refused, while its index entry,
    // sent alongside, had already counted past the bound.
    const res = await app.inject({ method: 'POST', url: '/destroyed-then-regenerated', headers: { cookie: current } })
    t.equal(res.statusCode, 200)
    t.equal(await userOf(app, oldest), 'lee', 'not ended for a login that failed')
    t.same(await index('lee'), [idOf(oldest), idOf(current)], 'the refused login removed the entry it added')
  })

  t.test('a login by setting the user key on an existing session ends the oldest as well', async (t) => {
    const oldest = await loginAs(app, 'ned')
    const current = await loginAs(app, 'ned')
    const anonymous = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    t.equal((await app.inject({ method: 'POST', url: '/set', headers: { cookie: anonymous }, payload: { userId: 'ned' } })).statusCode, 200)
    t.same(await Promise.all([oldest, current, anonymous].map(async (c) => await userOf(app, c))), [null, 'ned', 'ned'])
    t.same(await index('ned'), [current, anonymous].map(idOf))
  })

  t.test('a login by setting the user key on a session destroyed meanwhile ends nobody', async (t) => {
    const oldest = await loginAs(app, 'max')
    const current = await loginAs(app, 'max')
    const anonymous = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    // The merging write finds the session gone; the index entry sent alongside had counted past the bound.
    const res = await app.inject({ method: 'POST', url: '/destroyed-then-user-set', headers: { cookie: anonymous }, payload: { userId: 'max' } })
    t.equal(res.statusCode, 200)
    t.equal(await userOf(app, anonymous), null, 'nothing was logged in')
    t.equal(await userOf(app, oldest), 'max', 'not ended for a login that failed')
    t.equal(await userOf(app, current), 'max')
    t.same((await index('max')).slice(0, 2), [idOf(oldest), idOf(current)], 'both still listed (the failed login\'s own entry is pruned by listFor)')
    t.equal((await app.sessions.listFor('max')).length, 2)
  })

  t.test('parallel logins end at exactly the bound', async (t) => {
    const cookies = await Promise.all(Array.from({ length: 8 }, async () => await loginAs(app, 'kim', false)))
    const users = await Promise.all(cookies.map(async (c) => await userOf(app, c)))
    const live = cookies.filter((_, i) => users[i] === 'kim')
    t.equal(live.length, 2)
    t.same((await index('kim')).sort(), live.map(idOf).sort())
  })
})
