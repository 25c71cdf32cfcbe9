import t, { type Test } from 'tap'
import { adminFor, FreezingProxy, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp, keyInGeneration } from './setup.js'

// A set() (or a wrap's or route response's write) dropped the key from its own instance's L1
// before its SET was sent, and kept its own value there once Redis had it. A read on that same
// instance that began after the drop could reach Redis before the SET (reads go on a connection of
// their own) and land after the write: it put the old value back into L1 over the new one, and an
// instance ignores its own messages, so it served the replaced value until its TTL while every
// other instance read the new one. With L1 off, a wrap() called once set() had resolved joined
// that read and returned the replaced value. del() already dropped such reads once its DEL was
// done; a write now does the same.
//
// CLIENT PAUSE ... WRITE holds the SET in Redis and lets the GET run; the proxy then holds the
// replies, so the set's reply comes back first and the read (a tagged entry: its tag tokens are
// one more round trip) ends after it, the order a busy instance can get by chance.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())
const admin = adminFor(t, server)

/**
 * Runs `read` while `set` (of k to "new", through the proxy) is on its way: the read reaches Redis
 * before the SET, and ends after set() has resolved. Returns the read, still under way, once the
 * set is done (in an object: a promise returned from an async function would be waited for).
 */
async function readDuringSet<T> (t: Test, proxy: FreezingProxy, set: () => Promise<void>, read: () => Promise<T>): Promise<{ reading: Promise<T> }> {
  await admin.call('CLIENT', 'PAUSE', '10000', 'WRITE')
  const setting = set() // its SET waits in Redis
  t.ok(proxy.holdReplies() > 0)
  const reading = read()
  await waitUntil('the read ran in Redis before the SET', () => proxy.heldBytes > 0, 5000)
  await admin.call('CLIENT', 'UNPAUSE')
  await waitUntil('the SET ran in Redis', async () => (await admin.get(await keyInGeneration(admin, 'k')))?.endsWith('"new"') === true, 5000)
  proxy.releaseReplies()
  await setting
  return { reading }
}

t.test('regression: a get() on the setting instance that read Redis before its SET put the old value back into its L1', async (t) => {
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const a = await cacheApp(t, { redis: proxy.url })
  const b = await cacheApp(t, { redis: server.url })
  await a.cache.get('warm') // a knows the generation: its GET goes out at once
  await b.cache.set('k', 'old', { tags: ['T'] })
  await waitUntil('a heard b\'s set', () => a.cache.stats().bus.messages === 1, 5000)

  const { reading } = await readDuringSet(t, proxy, async () => { await a.cache.set('k', 'new') }, async () => await a.cache.get('k'))
  t.equal(await reading, 'old', 'the read reached Redis before the SET')
  t.equal(await a.cache.get('k'), 'new', 'the setting instance serves what Redis holds')
  t.equal(await b.cache.get('k'), 'new')
  t.equal(a.cache.stats().l1.entries, 1, 'k, with its new value')
})

t.test('regression (l1 off): a wrap() called after set() had resolved joined a read begun while the SET was on its way', async (t) => {
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const a = await cacheApp(t, { redis: proxy.url, l1: false })
  const b = await cacheApp(t, { redis: server.url, l1: false })
  await a.cache.get('warm')
  await b.cache.set('k', 'old', { tags: ['T'] })
  await waitUntil('a heard b\'s set', () => a.cache.stats().bus.messages === 1, 5000)

  const { reading: during } = await readDuringSet(t, proxy, async () => { await a.cache.set('k', 'new') }, async () => await a.cache.wrap('k', () => 'computed during'))
  const after = a.cache.wrap('k', () => 'computed after')
  t.equal(await during, 'old', 'called while the SET was on its way: what it read')
  t.equal(await after, 'new', 'called after set() resolved: what Redis holds')
  t.equal(a.cache.stats().coalesced, 0)
  t.equal(a.cache.stats().computed, 0)
})
