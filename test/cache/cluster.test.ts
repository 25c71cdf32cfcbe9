import t from 'tap'
import { RedisClusterHarness, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

const cluster = await RedisClusterHarness.start()
t.teardown(async () => await cluster.stop())
t.beforeEach(async () => await cluster.flushAll())

t.test('on a real 3-master Cluster: tags spread over slots, invalidation and clear without CROSSSLOT, coherent L1', async (t) => {
  const a = await cacheApp(t, { redis: { cluster: cluster.urls } })
  const mine = cluster.client()
  t.teardown(() => mine.disconnect())
  const b = await cacheApp(t, { redis: mine }) // a Cluster passed in stays the caller's
  const tags = Array.from({ length: 12 }, (_, i) => `tag-${i}`)
  for (let i = 0; i < 30; i++) await a.cache.set(`item:${i}`, { i }, { tags: [tags[i % 12] as string, tags[(i + 5) % 12] as string] })

  // Entries and tag tokens really are spread over every master.
  const nodes = new Set(await Promise.all(Array.from({ length: 30 }, async (_, i) => (await cluster.nodeFor(`scaleout:cache:json.v1:0:e:item:${i}`)).port)))
  t.equal(nodes.size, 3)
  const tagNodes = new Set(await Promise.all(tags.map(async (tag) => (await cluster.nodeFor(`scaleout:cache:json.v1:t:${tag}`)).port)))
  t.equal(tagNodes.size, 3)

  t.same(await b.cache.get('item:7'), { i: 7 })
  // Retried: a's own invalidation of item:7 may still be on its way and keep the first copy out of L1.
  await waitUntil('b keeps item:7 in L1', async () => {
    await b.cache.get('item:7')
    return b.cache.stats().l1.entries === 1
  }, 5000)

  const { commands } = await cluster.countCommands(async () => await a.cache.invalidateTags(['tag-7', 'tag-0', 'tag-3']))
  t.same(commands, { del: 3, spublish: 1 }, 'one DEL per tag, whatever the number of entries; the bus is sharded')
  await waitUntil('b dropped item:7 from L1', async () => b.cache.stats().l1.entries === 0, 5000)
  for (let i = 0; i < 30; i++) {
    const hit = [7, 0, 3].includes(i % 12) || [7, 0, 3].includes((i + 5) % 12)
    t.same(await b.cache.get(`item:${i}`), hit ? undefined : { i }, `item:${i} ${hit ? 'invalidated' : 'kept'}`)
  }

  await b.cache.clear()
  await waitUntil('a learned the new generation', async () => a.cache.stats().bus.messages >= 1 && a.cache.stats().l1.entries === 0, 5000)
  t.equal(await a.cache.get('item:1'), undefined)
  await a.cache.set('after', 'clear')
  t.equal(await b.cache.get('after'), 'clear')
  t.equal(mine.status, 'ready')
})

t.test('on a Cluster: a tagged L2 hit is one GET on the entry\'s node and one per tag on the tags\' nodes', async (t) => {
  const a = await cacheApp(t, { redis: { cluster: cluster.urls }, l1: false })
  await a.cache.set('k', 'v', { tags: ['x', 'y'] })
  await a.cache.get('k')
  const { result, commands } = await cluster.countCommands(async () => await a.cache.get('k'))
  t.equal(result, 'v')
  t.same(commands, { get: 3 })
})

t.test('on a Cluster: 3 instances x 100 concurrent wrap() for one cold key call fn once', async (t) => {
  const apps = await Promise.all([0, 1, 2].map(async () => await cacheApp(t, { redis: { cluster: cluster.urls }, lockWait: '30s' })))
  let calls = 0
  // The holder's fn returns only once both other instances wait for its lease, whatever the machine's load.
  const fn = async (): Promise<string> => {
    calls++
    await waitUntil('the two others wait for the lease', () => apps.filter((app) => app.cache.stats().lockWaits === 1).length === 2, 10_000)
    return 'v'
  }
  const results = await Promise.all(apps.flatMap((app) => Array.from({ length: 100 }, async () => await app.cache.wrap('cold', fn))))
  t.equal(calls, 1)
  t.ok(results.every((r) => r === 'v'))
})

// On a Cluster a write waits one round trip more (SET, then SPUBLISH) before it fills L1: another
// instance's del() in that window used to leave the deleted value in L1 (25 rounds in 200).
t.test('on a Cluster, a del() racing another instance\'s set() never leaves the set value in its L1', async (t) => {
  const a = await cacheApp(t, { redis: { cluster: cluster.urls } })
  const b = await cacheApp(t, { redis: { cluster: cluster.urls }, l1: false })
  await waitUntil('both buses connected', () => a.cache.stats().bus.connected && b.cache.stats().bus.connected, 5000)
  let mismatches = 0
  for (let round = 0; round < 100; round++) {
    const key = `race:${round}`
    const set = a.cache.set(key, `a${round}`)
    for (let i = 0; i < round % 8; i++) await new Promise((resolve) => setImmediate(resolve))
    await Promise.all([set, b.cache.del(key)])
    const inRedis = await b.cache.get(key)
    // Once a has heard its own write and b's del, its L1 must agree with Redis.
    await waitUntil(`a heard round ${round}`, () => a.cache.stats().bus.messages === 2 * (round + 1), 5000)
    if (await a.cache.get(key) !== inRedis) mismatches++
  }
  t.equal(mismatches, 0)
})

// The DEL timed out (its node paused) but ran once the node was back: the SPUBLISH, sent only
// after a DEL that succeeded, never went, and the other instances kept the value in L1.
t.test('regression: on a Cluster, a del() that timed out but landed left the old value in the other instances\' L1', async (t) => {
  const a = await cacheApp(t, { redis: { cluster: cluster.urls }, timeout: 300 })
  const b = await cacheApp(t, { redis: { cluster: cluster.urls }, timeout: 300 })
  const admin = cluster.client()
  t.teardown(() => admin.disconnect())
  await a.cache.set('probe', 1) // makes the generation
  const gen = await admin.get('scaleout:cache:json.v1:gen') as string
  const channelNode = await cluster.nodeFor('scaleout:cache:json.v1:bus')
  let key = ''
  let node = channelNode
  for (let i = 0; node.port === channelNode.port; i++) {
    key = `k${i}`
    node = await cluster.nodeFor(`scaleout:cache:json.v1:${gen}:e:${key}`)
  }
  await a.cache.set(key, 'old')
  await waitUntil('b holds the value in L1', async () => await b.cache.get(key) === 'old' && b.cache.stats().l1.entries >= 1, 5000)
  node.pause()
  t.teardown(() => node.resume())
  await t.rejects(a.cache.del(key), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', statusCode: 503 })
  node.resume()
  await waitUntil('the DEL ran', async () => await admin.exists(`scaleout:cache:json.v1:${gen}:e:${key}`) === 0, 5000)
  await waitUntil('b dropped the value', async () => await b.cache.get(key) === undefined, 5000)
})
