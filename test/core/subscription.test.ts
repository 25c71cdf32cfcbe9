import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { HEARTBEAT_PREFIX, Subscription, type LossReason, type SubscriptionOptions } from '@scaleout/core'
import { FreezingProxy, RedisServer, waitUntil } from '../helpers/index.js'

const server = await RedisServer.start()
t.teardown(async () => await server.stop())

interface Seen { messages: string[], ups: boolean[], losses: LossReason[], warnings: string[] }

/** A subscription on a fresh subscriber/publisher pair (quit at teardown), recording what it reports. */
function subscription (t: Test, url: string, options: Partial<SubscriptionOptions> = {}): { sub: Subscription, seen: Seen, subscriber: Redis, publisher: Redis } {
  const seen: Seen = { messages: [], ups: [], losses: [], warnings: [] }
  const subscriber = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 })
  const publisher = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false })
  for (const c of [subscriber, publisher]) c.on('error', () => undefined)
  const sub = new Subscription({
    subscriber,
    publisher,
    channel: 'chan',
    timeoutMs: 2000,
    heartbeatMs: 0,
    misses: 2,
    name: 'test',
    log: { warn: (_obj, msg) => { seen.warnings.push(msg) } },
    onMessage: (text) => { seen.messages.push(text) },
    onUp: (first) => { seen.ups.push(first) },
    onLoss: (reason) => { seen.losses.push(reason) },
    ...options
  })
  t.teardown(() => {
    sub.stop()
    subscriber.disconnect()
    publisher.disconnect()
  })
  return { sub, seen, subscriber, publisher }
}

t.test('delivers the channel\'s messages, never the heartbeat\'s pings nor other channels', async (t) => {
  const { sub, seen, subscriber } = subscription(t, server.url, { heartbeatMs: 20 })
  await sub.start(5000)
  t.equal(sub.connected, true)
  t.same(seen.ups, [true], 'a first subscription')
  await subscriber.subscribe('other')
  const admin = server.client()
  t.teardown(() => admin.disconnect())
  await admin.publish('other', 'not ours')
  await admin.publish('chan', `${HEARTBEAT_PREFIX}someone-else:1`)
  await admin.publish('chan', 'hello')
  await waitUntil('hello arrives', () => seen.messages.length === 1, 5000)
  // Several of its own pings went round meanwhile and were filtered out.
  await waitUntil('pings published', async () => Number((await server.commandStats()).publish) >= 6, 5000)
  t.same(seen.messages, ['hello'])
  t.same(seen.losses, [])
})

t.test('regression: a subscriber link that stays open but delivers nothing is declared lost and reconnected', async (t) => {
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const { sub, seen } = subscription(t, proxy.url, { heartbeatMs: 50, misses: 2 })
  await sub.start(5000)
  t.same(seen.ups, [true])
  proxy.refuseNew()
  t.equal(proxy.freezeSubscribers(), 1)
  await waitUntil('the silent link is lost', () => seen.losses.length === 1, 10_000)
  t.same(seen.losses, ['silent'])
  t.equal(sub.connected, false)
  t.match(seen.warnings, [/heard nothing on chan although Redis accepted our pings/])
  proxy.acceptNew()
  await waitUntil('subscribed again', () => sub.connected, 10_000)
  t.same(seen.ups, [true, false], 'a later subscription is not a first one')
  const admin = server.client()
  t.teardown(() => admin.disconnect())
  await admin.publish('chan', 'after')
  await waitUntil('messages flow again', () => seen.messages.includes('after'), 5000)
})

t.test('a closed subscriber connection is a loss, and its reconnect subscribes again', async (t) => {
  const { sub, seen } = subscription(t, server.url)
  await sub.start(5000)
  const admin = server.client()
  t.teardown(() => admin.disconnect())
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  await waitUntil('subscribed again', () => seen.ups.length === 2 && sub.connected, 10_000)
  t.same(seen.losses, ['closed'])
  t.same(seen.ups, [true, false])
})

t.test('without the heartbeat no ping is sent; pings Redis refuses are not counted against the link', async (t) => {
  const quiet = subscription(t, server.url)
  const before = (await server.commandStats()).publish ?? 0
  await quiet.sub.start(5000)
  const { sub, seen, publisher } = subscription(t, server.url, { heartbeatMs: 20, misses: 1 })
  await sub.start(5000)
  publisher.disconnect()
  // Ticks go by with every ping refused at once (no offline queue): the link is not judged.
  for (let i = 0; i < 5; i++) sub.beat()
  t.equal(sub.connected, true)
  t.same(seen.losses, [])
  t.equal((await server.commandStats()).publish ?? 0, before, 'no PUBLISH from either')
})

t.test('a SUBSCRIBE that fails is logged and the subscription stays down', async (t) => {
  const admin = server.client()
  t.teardown(() => admin.disconnect())
  await admin.acl('SETUSER', 'nosub2', 'on', '>pw', '~*', '&*', '+@all', '-subscribe')
  t.teardown(async () => { await admin.acl('DELUSER', 'nosub2') })
  const { sub, seen } = subscription(t, `redis://nosub2:pw@127.0.0.1:${server.port}`, { heartbeatMs: 20 })
  await sub.start(5000)
  t.equal(sub.connected, false)
  t.same(seen.ups, [])
  t.match(seen.warnings, [/could not subscribe to chan/])
  sub.beat()
  t.same(seen.losses, [], 'no heartbeat judges a subscription that is not up')
})

t.test('a subscriber not ready yet subscribes on its first ready; a stop before SUBSCRIBE returns reports nothing', async (t) => {
  const late = subscription(t, server.url)
  // The 'ready' listener and start's own wait both subscribe: the second changes nothing.
  const started = late.sub.start(5000)
  await started
  await waitUntil('up', () => late.sub.connected, 5000)
  t.same(late.seen.ups, [true])

  const stopped = subscription(t, server.url)
  const start = stopped.sub.start(5000)
  stopped.sub.stop()
  await start
  t.equal(stopped.sub.connected, false)
  t.same(stopped.seen.ups, [])
})
