import t from 'tap'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp, keyInGeneration } from './setup.js'

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

t.test('a set, del, invalidateTags or clear on one instance drops the entry from the other instance\'s L1', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: server.url })
  let seen = 0
  // Waits until b received a's latest invalidation (delivery is asynchronous).
  const delivered = async (): Promise<void> => {
    seen++
    await waitUntil(`b received message ${seen}`, async () => b.cache.stats().bus.messages === seen, 5000)
  }
  await a.cache.set('k', 1, { tags: ['t'] })
  await delivered()
  t.equal(await b.cache.get('k'), 1)
  t.equal(b.cache.stats().l1.entries, 1, 'b keeps it in L1')

  await a.cache.set('k', 2, { tags: ['t'] })
  await delivered()
  t.equal(await b.cache.get('k'), 2)

  await a.cache.del('k')
  await delivered()
  t.equal(b.cache.stats().l1.entries, 0)
  t.equal(await b.cache.get('k'), undefined)

  await a.cache.set('k', 3, { tags: ['t'] })
  await delivered()
  t.equal(await b.cache.get('k'), 3)
  t.equal(b.cache.stats().l1.entries, 1)
  await a.cache.invalidateTags(['t'])
  await delivered()
  t.equal(b.cache.stats().l1.entries, 0)
  t.equal(await b.cache.get('k'), undefined)

  await a.cache.set('k', 4)
  await delivered()
  t.equal(await b.cache.get('k'), 4)
  t.equal(b.cache.stats().l1.entries, 1)
  await a.cache.clear()
  await delivered()
  t.equal(b.cache.stats().l1.entries, 0)
  t.equal(await b.cache.get('k'), undefined)
  await b.cache.set('k', 5)
  t.equal(await a.cache.get('k'), 5, 'both instances write and read the same generation')
  t.equal(b.cache.stats().bus.connected, true)
})

t.test('an instance ignores its own invalidations (its fresh L1 copy stays)', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  await a.cache.set('k', 1)
  await waitUntil('own message arrives', async () => a.cache.stats().bus.messages === 1, 5000)
  const { total } = await server.countCommands(async () => await a.cache.get('k'))
  t.equal(total, 0)
})

t.test('a dropped subscription flushes L1 on reconnect: invalidations missed meanwhile cannot leave stale copies', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  await a.cache.set('k', 'old')
  t.equal(await a.cache.get('k'), 'old')
  // Another writer changed the entry and its message was lost (written straight into Redis here).
  const admin = adminFor(t, server)
  const entry = await keyInGeneration(admin, 'k')
  const raw = await admin.get(entry) as string
  await admin.set(entry, raw.replace('"old"', '"new"'), 'KEEPTTL')
  t.equal(await a.cache.get('k'), 'old', 'still the L1 copy')

  t.equal(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub'), 1)
  await waitUntil('resubscribed', async () => a.cache.stats().bus.resyncs === 1 && a.cache.stats().bus.connected, 10_000)
  t.equal(await a.cache.get('k'), 'new', 'L1 was flushed on reconnect')

  // And invalidations flow again on the new subscription.
  const b = await cacheApp(t, { redis: server.url })
  await b.cache.set('k', 'newest')
  await waitUntil('a sees b\'s write', async () => await a.cache.get('k') === 'newest', 5000)
})

t.test('messages that are not invalidations are ignored and logged', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  await a.cache.set('k', 1)
  const admin = adminFor(t, server)
  for (const garbage of ['not json', 'null', '{"k":["k"]}', '{"i":"x","k":"k"}', '{"i":"x","g":5}', '{"i":"x","t":[1]}', '{"i":"x","r":"k"}', '{"i":"x","r":[""]}']) {
    await admin.publish('scaleout:cache:json.v1:bus', garbage)
  }
  await admin.publish('scaleout:cache:json.v1:bus', '{"i":"other","k":["unrelated"]}')
  await waitUntil('the valid message arrives', async () => a.cache.stats().bus.messages === 2, 5000)
  t.equal(a.cache.stats().l1.entries, 1, 'garbage dropped nothing')
})

t.test('a read overtaken by an invalidation does not refill L1 with what it read', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: server.url })
  await b.cache.set('k', 1, { tags: ['t'] })
  await b.cache.set('j', 1)
  await waitUntil('a received both writes', async () => a.cache.stats().bus.messages === 2, 5000)
  const reads = [a.cache.get('k'), a.cache.get('j')]
  const invalidation = a.cache.invalidateTags(['t'])
  const [k, j] = await Promise.all(reads)
  t.equal(j, 1)
  t.ok(k === 1 || k === undefined, 'k is whatever Redis had when its read ran')
  await invalidation
  t.equal(a.cache.stats().l1.entries, 0, 'neither read refilled L1: a tag invalidation may concern any key')
  t.equal(await a.cache.get('j'), 1)
  t.equal(a.cache.stats().l1.entries, 1, 'the next read does')
})

t.test('without permission to SUBSCRIBE the cache still works, with L1 off', async (t) => {
  const admin = adminFor(t, server)
  await admin.acl('SETUSER', 'nosub', 'on', '>pw', '~*', '&*', '+@all', '-subscribe')
  t.teardown(async () => { await admin.acl('DELUSER', 'nosub') })
  const app = await cacheApp(t, { redis: `redis://nosub:pw@127.0.0.1:${server.port}` })
  t.equal(app.cache.stats().bus.connected, false)
  await app.cache.set('k', 'v')
  t.equal(await app.cache.get('k'), 'v')
  t.equal(app.cache.stats().l1.entries, 0)
  t.equal(app.cache.stats().l2.hits, 1)
})

// Each of these left a value in L1 that Redis no longer held (or held invalid): "an L1 copy never
// outlives its L2 entry" held only for reads, not for the writes of set() and wrap().
t.test('a del() sent while a set() of the key is on its way leaves no L1 copy of the deleted key', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const admin = adminFor(t, server)
  await a.cache.set('warm', 1)
  // The SET leaves first, so Redis ends empty; the set()'s reply used to put its value back in L1.
  for (let turns = 1; turns <= 4; turns++) {
    const set = a.cache.set('k', `v${turns}`)
    for (let i = 0; i < turns; i++) await Promise.resolve()
    await Promise.all([set, a.cache.del('k')])
    t.equal(await admin.get(await keyInGeneration(admin, 'k')), null, `${turns}: Redis holds nothing`)
    t.equal(await a.cache.get('k'), undefined, `${turns}: neither does L1`)
  }
  t.equal(a.cache.stats().l1.entries, 1, 'only warm')
  await a.cache.set('k', 'kept')
  t.equal(a.cache.stats().l1.entries, 2, 'a set() nobody overtook fills L1 as before')
  t.equal(a.cache.stats().l1.hits, 0)
  t.equal(await a.cache.get('k'), 'kept')
  t.equal(a.cache.stats().l1.hits, 1)
})

for (const where of ['this instance', 'another instance'] as const) {
  t.test(`an invalidateTags() on ${where} while wrap()'s fn runs keeps the value out of L1 as well as Redis`, async (t) => {
    const a = await cacheApp(t, { redis: server.url })
    const b = await cacheApp(t, { redis: server.url })
    const admin = adminFor(t, server)
    let release = (): void => {}
    const computing = new Promise<void>((resolve) => { release = resolve })
    const pending = a.cache.wrap('k', async () => { await computing; return 'old' }, { tags: ['t'] })
    await waitUntil('the tag token was read', async () => await admin.exists('scaleout:cache:json.v1:t:t') === 1, 5000)
    await (where === 'this instance' ? a : b).cache.invalidateTags(['t'])
    if (where === 'another instance') await waitUntil('a heard the invalidation', () => a.cache.stats().bus.messages === 1, 5000)
    release()
    t.equal(await pending, 'old', 'the caller gets what it computed')
    t.equal(a.cache.stats().l1.entries, 0)
    t.equal(await a.cache.get('k'), undefined)
    t.equal(await b.cache.get('k'), undefined)
    t.equal(await a.cache.wrap('k', () => 'new', { tags: ['t'] }), 'new')
    t.equal(a.cache.stats().l1.entries, 1)
  })
}

t.test('an entry deleted behind the cache\'s back sends no message: its L1 copy lasts until l1.ttl', async (t) => {
  const a = await cacheApp(t, { redis: server.url, l1: { ttl: '300ms' } })
  const admin = adminFor(t, server)
  await a.cache.set('k', 'v')
  await admin.del(await keyInGeneration(admin, 'k'))
  t.equal(await a.cache.get('k'), 'v', 'served from L1')
  t.equal(a.cache.stats().l1.hits, 1)
  await waitUntil('the L1 copy expired', async () => await a.cache.get('k') === undefined, 5000)
  t.equal(a.cache.stats().l1.entries, 0)
})

t.test('an invalidateTags() of 1000 tags, the most one call may name, reaches the other instance\'s L1', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: server.url })
  await a.cache.set('k', 'v', { tags: ['t999'] })
  await waitUntil('b heard the set', () => b.cache.stats().bus.messages === 1, 5000)
  t.equal(await b.cache.get('k'), 'v')
  t.equal(b.cache.stats().l1.entries, 1)
  await a.cache.invalidateTags(Array.from({ length: 1000 }, (_, i) => `t${i}`))
  await waitUntil('b heard the invalidation', () => b.cache.stats().bus.messages === 2, 5000)
  t.equal(b.cache.stats().l1.entries, 0)
  t.equal(await b.cache.get('k'), undefined)
})
