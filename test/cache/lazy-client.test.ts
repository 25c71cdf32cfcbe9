import t from 'tap'
import { Redis } from 'ioredis'
import { redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// The invalidation channel's client is a duplicate of the caller's: a lazy one stayed unconnected,
// so L1 was bypassed for good and no invalidation was heard.
t.test('a caller\'s lazyConnect client: the invalidation channel connects and L1 is used', async (t) => {
  const server = await redisFor(t)
  const lazy = (): Redis => {
    const client = new Redis(server.url, { lazyConnect: true })
    t.teardown(() => client.disconnect())
    return client
  }
  const a = await cacheApp(t, { redis: lazy() })
  const b = await cacheApp(t, { redis: lazy() })
  t.equal(a.cache.stats().bus.connected, true)
  await a.cache.set('k', 'one')
  t.equal(await a.cache.get('k'), 'one')
  t.match(a.cache.stats().l1, { hits: 1, entries: 1 })
  await b.cache.set('k', 'two')
  await waitUntil('a heard b', () => a.cache.stats().bus.messages === 2, 5000)
  t.equal(await a.cache.get('k'), 'two', 'the L1 copy was dropped')
})
