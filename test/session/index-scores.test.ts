import t from 'tap'
import type { Cluster, Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { adminFor, redisFor, RedisClusterHarness, waitUntil } from '../helpers/index.js'
import { build, cookieOf, storedFields, valueOf } from './setup.js'

// README, Redis layout: `<prefix>user:{<userId>}`: "session ids scored by absolute deadline (on a
// Cluster, by when they were added + `maxLifetime`); [...] expires with the longest."

const MAX_LIFETIME = 2 * 86_400_000
const INDEX = 'scaleout:sess:user:{ann}'

function idOf (cookie: string): string {
  return valueOf(cookie).slice(0, 51)
}

function keyOf (cookie: string): string {
  const id = idOf(cookie)
  return `scaleout:sess:{${id.slice(0, 8)}}:${id.slice(8)}`
}

/** Redis's clock in milliseconds, as the plugin's scripts take it (TIME). */
async function redisNow (node: Redis): Promise<number> {
  const [seconds, micros] = await node.time()
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
}

interface Login { cookie: string, created: number, deadline: number, score: number, from: number, to: number }

/**
 * Three logins of user `ann`: two that create a session (regenerate + set userId), and between them
 * one that sets the user key on a session created earlier (by Redis's clock): the only one whose
 * entry is added later than its session was created. `from`/`to`: Redis's clock (on `clock`, the
 * node holding the index) just before and after each login request.
 */
async function threeLogins (app: FastifyInstance, client: Redis | Cluster, clock: Redis): Promise<Login[]> {
  const cookies: Array<{ cookie: string, from: number, to: number }> = []
  const login = async (cookie?: string): Promise<void> => {
    const from = await redisNow(clock)
    const res = cookie === undefined
      ? await app.inject({ method: 'POST', url: '/login', payload: { userId: 'ann' } })
      : await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { userId: 'ann' } })
    const to = await redisNow(clock)
    if (res.statusCode !== 200) throw new Error(`login answered ${res.statusCode}`)
    cookies.push({ cookie: cookie ?? cookieOf(res) as string, from, to })
  }
  await login()
  const anonymous = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  const created = Number(storedFields(await client.get(keyOf(anonymous)))['m:c'])
  await waitUntil('Redis\'s clock to pass the session\'s creation', async () => await redisNow(clock) >= created + 5, 10_000, 2)
  await login(anonymous)
  await login()
  return await Promise.all(cookies.map(async ({ cookie, from, to }) => {
    const fields = storedFields(await client.get(keyOf(cookie)))
    const score = await client.zscore(INDEX, idOf(cookie))
    if (score === null) throw new Error('no index entry')
    return { cookie, created: Number(fields['m:c']), deadline: Number(fields['m:d']), score: Number(score), from, to }
  }))
}

t.test('standalone: each entry is scored by its session\'s absolute deadline; the index expires with the last', async (t) => {
  const server = await redisFor(t)
  const client = adminFor(t, server)
  const app = await build(t, { redis: server.url, maxLifetime: '2d' })
  const logins = await threeLogins(app, client, client)
  t.same(await client.zrange(INDEX, 0, -1), logins.map((l) => idOf(l.cookie)), 'the three sessions, in the order of their deadlines')
  for (const [i, login] of logins.entries()) {
    t.equal(login.deadline, login.created + MAX_LIFETIME, `session ${i}: deadline maxLifetime after creation`)
    t.equal(login.score, login.deadline, `session ${i}: scored by its deadline exactly`)
  }
  t.ok(logins[1] !== undefined && logins[1].score < logins[1].from + MAX_LIFETIME, 'the login on an older session is scored by that session\'s deadline, not by when it was added')
  t.equal(await client.pexpiretime(INDEX), Math.max(...logins.map((l) => l.score)), 'expires with the longest')
})

t.test('on a real 3-master Redis Cluster: each entry is scored by when it was added + maxLifetime; the index expires with the last', async (t) => {
  const cluster = await RedisClusterHarness.start()
  t.teardown(async () => await cluster.stop())
  const client = cluster.client()
  t.teardown(() => client.disconnect())
  const clock = adminFor(t, await cluster.nodeFor(INDEX))
  const app = await build(t, { redis: { cluster: cluster.urls }, maxLifetime: '2d' })
  const logins = await threeLogins(app, client, clock)
  t.same(await client.zrange(INDEX, 0, -1), logins.map((l) => idOf(l.cookie)), 'the three sessions, in the order they were added')
  for (const [i, login] of logins.entries()) {
    t.equal(login.deadline, login.created + MAX_LIFETIME, `session ${i}: deadline maxLifetime after creation`)
    t.ok(login.score >= login.from + MAX_LIFETIME && login.score <= login.to + MAX_LIFETIME,
      `session ${i}: scored maxLifetime after it was added (${login.score - MAX_LIFETIME} within [${login.from}, ${login.to}] by Redis's clock)`)
  }
  const late = logins[1] as Login
  t.ok(late.score > late.deadline, `the login on an older session is scored by when it was added (${late.score}), not by its deadline (${late.deadline})`)
  t.equal(await client.pexpiretime(INDEX), Math.max(...logins.map((l) => l.score)), 'expires with the longest')
})
