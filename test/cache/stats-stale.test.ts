import t from 'tap'
import { redisFor, sleep, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// stats() counted a read that found only a stale value (past its ttl, within staleTtl) as a hit of
// the tier it came from: `get()` answered undefined while l1.hits or l2.hits went up, and a `wrap()`
// that served it was counted as a hit and in staleServed both. A hit is now a fresh value only; a
// stale one is a miss of its tier, and staleServed counts those that wrap served.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

const tiers = (app: Awaited<ReturnType<typeof cacheApp>>): unknown => {
  const s = app.cache.stats()
  return { l1: { hits: s.l1.hits, misses: s.l1.misses }, l2: s.l2, staleServed: s.staleServed }
}

t.test('a stale value in L1 is an L1 miss for get() and for wrap(), which serves it as staleServed', async (t) => {
  const app = await cacheApp(t, { redis: server.url })
  await app.cache.set('k', 'old', { ttl: '100ms', staleTtl: '1m' })
  await sleep(150) // past the 100 ms ttl, well within the stale window
  t.equal(await app.cache.get('k'), undefined)
  t.same(tiers(app), { l1: { hits: 0, misses: 1 }, l2: { hits: 0, misses: 0 }, staleServed: 0 }, 'get(): an L1 miss, and no hit anywhere')
  t.equal(await app.cache.wrap('k', () => 'new', { ttl: '1m' }), 'old')
  t.same(tiers(app), { l1: { hits: 0, misses: 2 }, l2: { hits: 0, misses: 0 }, staleServed: 1 }, 'wrap(): an L1 miss, served stale')
  await waitUntil('refreshed', async () => app.cache.stats().computed === 1, 5000)
  t.equal(await app.cache.get('k'), 'new')
  t.same(tiers(app), { l1: { hits: 1, misses: 2 }, l2: { hits: 0, misses: 0 }, staleServed: 1 }, 'the fresh value is a hit')
})

t.test('a stale value in Redis is an L2 miss for get() and for wrap(), which serves it as staleServed', async (t) => {
  const app = await cacheApp(t, { redis: server.url, l1: false })
  await app.cache.set('k', 'old', { ttl: '100ms', staleTtl: '1m' })
  await sleep(150) // past the 100 ms ttl, well within the stale window
  t.equal(await app.cache.get('k'), undefined)
  t.same(tiers(app), { l1: { hits: 0, misses: 0 }, l2: { hits: 0, misses: 1 }, staleServed: 0 }, 'get(): an L2 miss')
  t.equal(await app.cache.wrap('k', () => 'new', { ttl: '1m' }), 'old')
  t.same(tiers(app), { l1: { hits: 0, misses: 0 }, l2: { hits: 0, misses: 2 }, staleServed: 1 }, 'wrap(): an L2 miss, served stale')
  await waitUntil('refreshed', async () => app.cache.stats().computed === 1, 5000)
  t.equal(await app.cache.get('k'), 'new')
  t.same(tiers(app), { l1: { hits: 0, misses: 0 }, l2: { hits: 1, misses: 2 }, staleServed: 1 }, 'the fresh value is a hit')
})

t.test('another instance reading a stale value: an L1 miss, then an L2 miss', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: server.url })
  await a.cache.set('k', 'old', { ttl: '100ms', staleTtl: '1m' })
  await sleep(150) // past the 100 ms ttl, well within the stale window
  t.equal(await b.cache.get('k'), undefined)
  t.same(tiers(b), { l1: { hits: 0, misses: 1 }, l2: { hits: 0, misses: 1 }, staleServed: 0 })
})
