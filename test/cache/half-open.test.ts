import t from 'tap'
import { Redis } from 'ioredis'
import { FreezingProxy, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

const server = await redisFor(t)

const INTERVAL_MS = 100
const MISSES = 2
// The README's bound, (misses + 1) × interval, plus room for a loaded machine to run the timers.
const BOUND_MS = (MISSES + 1) * INTERVAL_MS + 3000

t.test('regression: a subscriber link that stays open but delivers nothing left L1 serving replaced values with the bus reported connected', async (t) => {
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const stale = await cacheApp(t, { redis: proxy.url, heartbeatInterval: `${INTERVAL_MS}ms`, heartbeatMisses: MISSES })
  const writer = await cacheApp(t, { redis: server.url })
  await stale.cache.set('k', 'old')
  t.equal(await stale.cache.get('k'), 'old')
  t.equal(stale.cache.stats().l1.entries, 1)

  // The subscriber's link goes silent without closing, and a reconnect cannot get through yet.
  proxy.refuseNew()
  t.equal(proxy.freezeSubscribers(), 1)
  await writer.cache.set('k', 'new')
  await waitUntil('L1 no longer serves the replaced value', async () => await stale.cache.get('k') === 'new', BOUND_MS)
  const stats = stale.cache.stats()
  t.equal(stats.bus.connected, false, 'the bus is reported down')
  t.equal(stats.l1.entries, 0, 'L1 was flushed')
  t.equal(await stale.cache.get('k'), 'new')
  t.equal(stale.cache.stats().l1.entries, 0, 'and is bypassed while the bus is down')

  proxy.acceptNew()
  await waitUntil('resubscribed', () => stale.cache.stats().bus.connected, 15_000)
  t.equal(stale.cache.stats().bus.resyncs, 1)
  await writer.cache.set('k', 'newest')
  await waitUntil('invalidations flow again', async () => await stale.cache.get('k') === 'newest', 5000)
})

t.test('the heartbeat is on by default and its pings are not counted as invalidations', async (t) => {
  const before = (await server.commandStats()).publish ?? 0
  const app = await cacheApp(t, { redis: server.url, heartbeatInterval: undefined, heartbeatMisses: 1 })
  await waitUntil('pings sent', async () => ((await server.commandStats()).publish ?? 0) - before >= 2, 5000)
  t.equal(app.cache.stats().bus.messages, 0)
  t.equal(app.cache.stats().bus.connected, true)
})

// Both links frozen: the pings timed out instead of being accepted, so none counted, and L1 went on
// serving values that other instances had replaced for as long as the partition lasted.
t.test('regression: a partition that freezes every link to Redis stopped L1 from serving only at l1.ttl', async (t) => {
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const cut = await cacheApp(t, { redis: proxy.url, timeout: 200, heartbeatInterval: `${INTERVAL_MS}ms`, heartbeatMisses: MISSES })
  const writer = await cacheApp(t, { redis: server.url })
  await cut.cache.set('k', 'old')
  t.equal(await cut.cache.get('k'), 'old')
  t.equal(cut.cache.stats().l1.entries, 1)

  proxy.refuseNew()
  t.equal(proxy.freezeAll(), 3, 'the client\'s, the request path\'s own and the subscriber\'s links')
  await writer.cache.set('k', 'new')
  await waitUntil('the bus is judged lost', () => !cut.cache.stats().bus.connected, BOUND_MS + 2 * 200)
  t.equal(cut.cache.stats().l1.entries, 0, 'L1 was flushed')
  t.equal(await cut.cache.get('k'), undefined, 'a miss (Redis cannot be read), not the replaced value')

  proxy.acceptNew()
  // Both links come back once the network lets them: the subscriber forced by the heartbeat, the
  // command link reopened by the core once its reads timed out with nothing received.
  await waitUntil('resubscribed', () => cut.cache.stats().bus.connected, 15_000)
  await waitUntil('the command link reopened', async () => await cut.cache.get('k') === 'new', 15_000)
})

// The same partition once the command client that publishes the pings had been reopened (the core
// reopens a client it made when its commands time out; here the app's own client, reopened by the
// test): the reconnecting client refused every ping at once, none counted, and L1 went on serving
// the replaced value for as long as the partition lasted.
t.test('regression: a partition during which the publishing client reconnects stopped L1 from serving only at l1.ttl', async (t) => {
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const client = new Redis(proxy.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 })
  client.on('error', () => undefined)
  t.teardown(() => { client.disconnect() })
  const cut = await cacheApp(t, { redis: client, timeout: 200, heartbeatInterval: `${INTERVAL_MS}ms`, heartbeatMisses: MISSES })
  const writer = await cacheApp(t, { redis: server.url })
  await cut.cache.set('k', 'old')
  t.equal(await cut.cache.get('k'), 'old')
  t.equal(cut.cache.stats().l1.entries, 1)

  proxy.refuseNew()
  t.equal(proxy.freezeAll(), 3, 'the client\'s, the request path\'s own and the subscriber\'s links')
  client.disconnect(true)
  await writer.cache.set('k', 'new')
  await waitUntil('the bus is judged lost', () => !cut.cache.stats().bus.connected, BOUND_MS)
  t.equal(cut.cache.stats().l1.entries, 0, 'L1 was flushed')
  t.not(client.status, 'ready', 'the publishing client never got through')

  proxy.acceptNew()
  await waitUntil('resubscribed', () => cut.cache.stats().bus.connected, 15_000)
  await waitUntil('the client is back', () => client.status === 'ready', 15_000)
  await writer.cache.set('k', 'newest')
  await waitUntil('invalidations flow again', async () => await cut.cache.get('k') === 'newest', 15_000)
})
