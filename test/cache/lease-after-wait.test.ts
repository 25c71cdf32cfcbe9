import t from 'tap'
import { Redis } from 'ioredis'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp, keyInGeneration } from './setup.js'

// A waiter polls: it reads the entry, finds nothing, and tries the lease again. The holder writes
// its value and releases its lease right after: when both land between the waiter's read and its
// next try, the waiter took the free lease and ran fn again, although the value was in Redis (seen
// as "3 instances x 200 concurrent wrap() ... call fn exactly once" calling it twice on a loaded
// machine). A waiter that takes the lease after waiting now reads the entry once more first, and
// returns the holder's value, releasing the lease it took.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())
const admin = adminFor(t, server)

t.test('regression: a waiter that took the lease freed between its read and its next try ran fn again', async (t) => {
  const holder = await cacheApp(t, { redis: server.url })
  const client = new Redis(server.url)
  t.teardown(() => client.disconnect())
  const waiter = await cacheApp(t, { redis: client })
  t.equal(await holder.cache.get('other'), undefined, 'the generation is made')
  const lease = await keyInGeneration(admin, 'k', 'l')
  await admin.set(lease, 'the holder', 'PX', 60_000)

  // The waiter's lease tries go on the client it was given (its reads on a connection of its own).
  // Its second try, after a wait and a read that found nothing, is held until the holder has
  // written the value and released its lease: the interleaving a loaded machine makes.
  const set = client.set.bind(client) as (...args: unknown[]) => Promise<unknown>
  let tries = 0
  ;(client as unknown as { set: (...args: unknown[]) => Promise<unknown> }).set = async (...args: unknown[]) => {
    if (args.includes('NX') && ++tries === 2) {
      await holder.cache.set('k', 'the holder\'s value')
      await admin.del(lease)
    }
    return await set(...args)
  }

  let calls = 0
  t.equal(await waiter.cache.wrap('k', () => { calls++; return 'computed again' }), 'the holder\'s value')
  t.equal(tries, 2)
  t.equal(calls, 0, 'fn never ran')
  const stats = waiter.cache.stats()
  t.same([stats.computed, stats.lockWaits, stats.lockTimeouts], [0, 1, 0])
  t.equal(await admin.get(await keyInGeneration(admin, 'k')).then((raw) => raw?.split('\n')[1]), '"the holder\'s value"')
  await waitUntil('the lease it took is released', async () => await admin.exists(lease) === 0, 5000)
})
