import t from 'tap'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// A cache's Redis usually evicts (allkeys-lru): the generation key is a key like any other.
const server = await redisFor(t, { args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
t.beforeEach(async () => await server.flushAll())

const GEN = 'scaleout:cache:json.v1:gen'

t.test('regression: an evicted generation key started again from 0 and served entries clear() had removed', async (t) => {
  const admin = adminFor(t, server)
  t.equal(await admin.config('GET', 'maxmemory-policy').then((r) => (r as string[])[1]), 'allkeys-lru')
  const a = await cacheApp(t, { redis: server.url })
  await a.cache.set('k', 'before clear', { ttl: '1h' })
  await a.cache.clear()
  const cleared = BigInt(await admin.get(GEN) as string)
  await a.cache.set('k', 'after clear', { ttl: '1h' })

  // What the eviction policy may do at any time.
  await admin.del(GEN)

  const late = await cacheApp(t, { redis: server.url, l1: false })
  t.equal(await late.cache.get('k'), undefined, 'an instance starting now never sees the pre-clear entry')
  const remade = BigInt(await admin.get(GEN) as string)
  t.ok(remade > cleared, 'the generation made again is above every one before it')
  t.equal(await a.cache.get('k'), 'after clear', 'an instance on the old generation keeps its own copy until told')
  // Until the next clear(), the two groups use different namespaces.
  await late.cache.set('k', 'late', { ttl: '1h' })
  t.equal(await a.cache.get('k'), 'after clear', 'a set on the new generation is not seen on the old')
  await a.cache.del('k')
  t.equal(await late.cache.get('k'), 'late', 'nor a del on the old seen on the new')

  // A clear() after the eviction still moves everyone forward.
  await late.cache.set('k', 'fresh', { ttl: '1h' })
  await late.cache.clear()
  await waitUntil('a moved to the new generation', async () => await a.cache.get('k') === undefined, 5000)
  t.equal(await late.cache.get('k'), undefined)
})

t.test('regression: a clear() after the generation key was evicted went back to 1 and was ignored', async (t) => {
  const admin = adminFor(t, server)
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: server.url })
  await a.cache.clear()
  await waitUntil('b heard the clear', () => b.cache.stats().bus.messages === 1, 5000)
  await b.cache.set('k', 'cached on b', { ttl: '1h' })
  await waitUntil('a heard the write', () => a.cache.stats().bus.messages === 2, 5000)
  t.equal(await a.cache.get('k'), 'cached on b')
  await admin.del(GEN)
  await b.cache.clear()
  await waitUntil('a heard the clear', () => a.cache.stats().bus.messages === 3, 5000)
  t.equal(await a.cache.get('k'), undefined, 'the clear reached a')
  t.equal(await b.cache.get('k'), undefined)
})
