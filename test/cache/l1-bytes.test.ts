import t from 'tap'
import { redisFor } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// L1's maxBytes counted, for a value this instance set (or wrap or a route response wrote), its
// encoded bytes only, and for a value read from Redis the whole stored entry (header, tag tokens and
// all): the same entry weighed differently on two instances, and the tags a write keeps in L1 (up to
// 1000 of 1024 characters each) were not counted at all, so L1 could hold far more than maxBytes.
// Now every entry counts its encoded value's bytes plus its tags' (UTF-8), wherever it came from.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

const tag = 't'.repeat(1000)

t.test('regression: an entry weighs its encoded value plus its tags, on the instance that wrote it and on one that read it', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: server.url })
  await a.cache.set('k', 'v', { tags: [tag, 'é'] })
  t.equal(a.cache.stats().l1.bytes, 3 + 1000 + 2, '"v", then the tags')
  t.equal(await b.cache.get('k'), 'v')
  t.equal(b.cache.stats().l1.bytes, 3 + 1000 + 2, 'the same on the instance that read it')
  t.equal(await a.cache.wrap('w', () => 'w', { tags: [tag] }), 'w')
  t.equal(a.cache.stats().l1.bytes, 2 * 1005 - 2)
})

t.test('regression: tags count against l1.maxBytes', async (t) => {
  const app = await cacheApp(t, { redis: server.url, l1: { maxBytes: 5000 } })
  for (let i = 0; i < 10; i++) await app.cache.set(`k${i}`, i, { tags: [tag] })
  const stats = app.cache.stats()
  t.equal(stats.l1.entries, 4, 'four entries of 1001 bytes fit in 5000')
  t.equal(stats.l1.bytes, 4 * 1001)
  t.equal(stats.l1.evictions, 6)
})
