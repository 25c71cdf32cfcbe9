import t from 'tap'
import { redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// set() and wrap() kept the caller's `tags` array itself in the L1 entry they wrote. L1 indexes an
// entry under its tags when it is stored and walks them again to unindex it: once the caller had
// changed that array (reused it for the next call, say), dropping the entry threw a TypeError out
// of the next set() or del() of the key on this instance, and out of the pub/sub message handler
// when another instance wrote the key (an uncaught exception: the process crashed). An emptied
// array left the entry indexed under its old tags for good. A call's tags are copied now.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

t.test('regression: a tags array changed after set() made the next set() or del() of the key throw a TypeError', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const tags = ['T']
  await a.cache.set('k', 'v1', { tags })
  tags[0] = 'U'
  await a.cache.set('k', 'v2', { tags })
  t.equal(await a.cache.get('k'), 'v2')
  tags[0] = 'V'
  await a.cache.del('k')
  t.equal(await a.cache.get('k'), undefined)
  t.equal(a.cache.stats().l1.entries, 0)
})

t.test('regression: another instance\'s write of a key whose tags array was changed after wrap() crashed this instance', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: server.url })
  const tags = ['T']
  t.equal(await a.cache.wrap('k', () => 'v1', { tags }), 'v1')
  tags.push('U')
  await b.cache.set('k', 'v2')
  await waitUntil('a heard b\'s set', () => a.cache.stats().bus.messages === 2, 5000)
  t.equal(await a.cache.get('k'), 'v2')
})

t.test('a tags array emptied after set() does not leave the entry invalidated by its old tag', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const tags = ['T']
  await a.cache.set('k', 'v1', { tags })
  tags.length = 0
  await a.cache.set('k', 'v2') // carries no tag
  await a.cache.invalidateTags(['T'])
  t.equal(a.cache.stats().l1.entries, 1, 'the untagged v2 stays in L1')
  const hits = a.cache.stats().l1.hits
  t.equal(await a.cache.get('k'), 'v2')
  t.equal(a.cache.stats().l1.hits, hits + 1)
})
