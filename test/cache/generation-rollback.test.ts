import t from 'tap'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// Redis alone decides the generation, even when Redis itself goes back: a failover to a replica
// that had not yet received the last clear(), a restored backup. Every instance then follows Redis
// at its next resync, so the instances stay on one namespace; the clear is lost, as any write that
// failover lost. An instance that kept its own, newer generation would split from the others.
const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

const GEN = 'scaleout:cache:json.v1:gen'

t.test('a generation key that went back in Redis: after their resync every instance reads the one Redis holds', async (t) => {
  const admin = adminFor(t, server)
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: server.url })
  await a.cache.set('k', 'before the clear', { ttl: '1h' })
  const before = await admin.get(GEN) as string
  await waitUntil('b heard the write', () => b.cache.stats().bus.messages === 1, 5000)
  await a.cache.clear()
  await waitUntil('b heard the clear', () => b.cache.stats().bus.messages === 2, 5000)
  await a.cache.set('k', 'after the clear', { ttl: '1h' })
  await waitUntil('b heard the second write', () => b.cache.stats().bus.messages === 3, 5000)
  t.equal(await a.cache.get('k'), 'after the clear')
  t.equal(await b.cache.get('k'), 'after the clear')
  t.not(await admin.get(GEN), before, 'the clear moved the generation')

  // What a failover to a replica that missed the clear leaves behind, and the subscribers it drops.
  await admin.set(GEN, before)
  t.equal(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub'), 2)
  await waitUntil('both resubscribed', () => [a, b].every((app) => app.cache.stats().bus.resyncs === 1 && app.cache.stats().bus.connected), 10_000)

  t.equal(await a.cache.get('k'), 'before the clear', 'a follows Redis back')
  t.equal(await b.cache.get('k'), 'before the clear', 'and so does b: one namespace for both')
  await b.cache.set('k', 'written on b', { ttl: '1h' })
  await waitUntil('a heard the write', () => a.cache.stats().bus.messages === 4, 5000)
  t.equal(await a.cache.get('k'), 'written on b', 'a write on one is read on the other')

  // The next clear moves both forward again.
  await a.cache.clear()
  await waitUntil('b heard the clear', async () => await b.cache.get('k') === undefined, 5000)
  t.equal(await a.cache.get('k'), undefined)
})
