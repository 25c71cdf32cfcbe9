import t from 'tap'
import cache from '@scaleout/cache'
import { createCodec } from '@scaleout/core'
import type { FastifyInstance } from 'fastify'
import { Counters } from '../../plugins/cache/src/counters.js'
import { Generation } from '../../plugins/cache/src/coherence.js'
import { Guard } from '../../plugins/cache/src/guard.js'
import { Store } from '../../plugins/cache/src/store.js'
import { adminFor, appFor, logSink, redisFor } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// A route response is counted toward its route's maxEntries before it is stored (see Bound in the
// README). One that was counted but then not stored (too large to store, say) used to stay counted
// until its ttl: a client asking for such responses under distinct URLs used up the bound, and the
// route then cached nothing.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())
const admin = adminFor(t, server)

/** The members of the route's count and their scores, in the current generation. */
async function counted (): Promise<Record<string, number>> {
  const sets = await admin.keys('scaleout:cache:json.v1:*:n:*')
  if (sets.length === 0) return {}
  if (sets.length > 1) throw new Error(`one route counted, not ${sets.length}`)
  const flat = await admin.zrange(sets[0] as string, 0, -1, 'WITHSCORES')
  const out: Record<string, number> = {}
  for (let i = 0; i < flat.length; i += 2) out[flat[i] as string] = Number(flat[i + 1])
  return out
}

/** A route whose response is as long as ?size= says, under the key ?k= names. */
function page (app: FastifyInstance, maxEntries: number): void {
  app.get('/page', { config: { cache: { ttl: '60s', maxEntries, tags: ['pages'], key: (request) => (request.query as { k: string }).k } } }, async (request) => 'x'.repeat(Number((request.query as { size: string }).size)))
}

t.test('regression: responses too large to store used up the route\'s maxEntries, and then nothing was cached', async (t) => {
  const sink = logSink('warn')
  const app = appFor(t, { logger: sink.logger })
  await app.register(cache, { redis: server.url, timeout: 3000, heartbeatInterval: false, maxBytes: 1000 })
  page(app, 2)
  await app.ready()
  for (const k of ['big-1', 'big-2', 'big-3']) {
    const big = await app.inject(`/page?k=${k}&size=2000`)
    t.same([big.statusCode, big.body.length, big.headers['x-cache']], [200, 2000, 'miss'], 'served, not stored')
  }
  // Logged once, then at most once a minute: see route-oversized-response.test.ts.
  t.same(sink.messages(40), ['@scaleout/cache: response not cached'])
  t.same(await counted(), {}, 'none of them counted')
  t.same(await admin.keys('*:r:*'), [])
  for (const k of ['small-1', 'small-2']) {
    t.equal((await app.inject(`/page?k=${k}&size=10`)).headers['x-cache'], 'miss', k)
    t.equal((await app.inject(`/page?k=${k}&size=10`)).headers['x-cache'], 'hit', `${k} stored: the bound is the route's whole`)
  }
  t.same(Object.keys(await counted()).length, 2)
  t.equal((await app.inject('/page?k=small-3&size=10')).headers['x-cache'], 'miss')
  t.equal((await app.inject('/page?k=small-3&size=10')).headers['x-cache'], 'miss', 'the bound still holds')
})

t.test('a counted response written again but not stored gets its earlier count back: its entry is still in Redis', async (t) => {
  const app = await cacheApp(t, { redis: server.url, maxBytes: 1000 }, (app) => { page(app, 1) })
  t.equal((await app.inject('/page?k=one&size=10')).headers['x-cache'], 'miss')
  const [entryKey] = await admin.keys('*:r:*') as [string]
  const member = entryKey.slice(entryKey.indexOf(':r:') + 1)
  const first = await counted()
  t.same(Object.keys(first), [member])
  // The entry turns invalid (its tag), but stays in Redis until its ttl: still counted.
  await app.cache.invalidateTags(['pages'])
  const again = await app.inject('/page?k=one&size=2000')
  t.same([again.body.length, again.headers['x-cache']], [2000, 'miss'])
  t.same(await counted(), first, 'counted until the entry in Redis leaves, not the one that was not written')
  t.equal(await admin.exists(entryKey), 1)
  t.equal((await app.inject('/page?k=two&size=10')).headers['x-cache'], 'miss')
  t.equal((await app.inject('/page?k=two&size=10')).headers['x-cache'], 'miss', 'the route is still full')
})

t.test('a count that cannot be taken back stays until its ttl, and the response is still served', async (t) => {
  const sink = logSink('debug')
  const app = appFor(t, { logger: sink.logger })
  await app.register(cache, { redis: server.url, timeout: 3000, heartbeatInterval: false, maxBytes: 1000 })
  // A response counted, then not stored: a clear() while its handler ran (see Tags in the README).
  app.get('/cleared', { config: { cache: { ttl: '60s' } } }, async (request) => {
    if ((request.query as { clear?: string }).clear !== undefined) await app.cache.clear()
    return 'x'
  })
  await app.ready()
  t.equal((await app.inject('/cleared')).headers['x-cache'], 'miss')
  await app.cache.clear()
  // A real refusal: scripts are sent with EVAL the first time on a connection, EVALSHA after. The
  // count's script and the clear's were sent once already; the one that takes a count back never was.
  await admin.call('ACL', 'SETUSER', 'default', '-eval')
  t.teardown(async () => { await admin.call('ACL', 'SETUSER', 'default', '+eval') })
  const res = await app.inject('/cleared?clear=1')
  t.same([res.statusCode, res.body, res.headers['x-cache']], [200, 'x', 'miss'])
  t.ok(sink.lines.some((l) => l.msg === '@scaleout/cache: could not take back a route\'s count of a response not stored; it lasts until the response\'s ttl' &&
    (l.err as { code?: string }).code === 'SCALEOUT_ERR_REDIS_NOPERM'), 'logged at debug')
  const gen = await admin.get('scaleout:cache:json.v1:gen') as string
  const [set] = await admin.keys(`scaleout:cache:json.v1:${gen}:n:*`) as [string]
  t.equal(await admin.zcard(set), 1, 'still counted')
  t.same(await admin.keys(`scaleout:cache:json.v1:${gen}:r:*`), [], 'though not stored')
})

t.test('taking back an admission leaves alone a count that another admission of the entry made since', async (t) => {
  const client = server.client()
  t.teardown(() => client.disconnect())
  const log = appFor(t).log
  const store = new Store(client, false, 'unit:', createCodec('@scaleout/cache'), new Guard(3000, undefined, new Counters(), log), new Generation())
  const now = Date.now()
  const mine = await store.admit('route', 'r:x', now + 60_000, 10)
  t.match(mine, { member: 'r:x', score: now + 60_000, previous: '' }, 'a new member')
  // Another instance's admission of the same response, whose write may well succeed.
  const theirs = await store.admit('route', 'r:x', now + 61_000, 10)
  t.match(theirs, { previous: String(now + 60_000) })
  await store.unadmit(mine as NonNullable<typeof mine>)
  const [setKey] = await admin.keys('unit:*:n:route') as [string]
  t.equal(await admin.zscore(setKey, 'r:x'), String(now + 61_000), 'their count stays')
  await store.unadmit(theirs as NonNullable<typeof theirs>)
  t.equal(await admin.zscore(setKey, 'r:x'), String(now + 60_000), 'taken back in turn: the score it had before')
  const fresh = await store.admit('route', 'r:y', now + 60_000, 10)
  await store.unadmit(fresh as NonNullable<typeof fresh>)
  t.equal(await admin.zscore(setKey, 'r:y'), null, 'a new member leaves')
  t.equal(await store.admit('route', 'r:z', now + 60_000, 1), undefined, 'full: not admitted')
})

t.test('a response whose write to Redis failed stays counted: a write that timed out may have landed', async (t) => {
  const sink = logSink('warn')
  const app = appFor(t, { logger: sink.logger })
  await app.register(cache, { redis: server.url, timeout: 3000, heartbeatInterval: false })
  page(app, 10)
  await app.ready()
  // A real failure: this user may read route responses, and write every other key of the cache.
  await admin.call('ACL', 'SETUSER', 'default', 'resetkeys', '%R~*:r:*', '~*:e:*', '~*:l:*', '~*:n:*', '~*gen', '~*:t:*')
  t.teardown(async () => { await admin.call('ACL', 'SETUSER', 'default', 'resetkeys', '~*') })
  const res = await app.inject('/page?k=one&size=10')
  t.same([res.statusCode, res.body, res.headers['x-cache']], [200, 'x'.repeat(10), 'miss'])
  t.same(sink.lines.map((l) => [l.msg, (l.err as { code?: string }).code]), [['@scaleout/cache: could not store a value in Redis; carrying on without it', 'SCALEOUT_ERR_REDIS_NOPERM']])
  t.same(await admin.keys('*:r:*'), [])
  t.same(Object.keys(await counted()), ['r:3:GET5:/page4:http12:localhost:80k3:one'], 'still counted')
})
