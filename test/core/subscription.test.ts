import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { HEARTBEAT_PREFIX, Subscription, SUBSCRIBE_RETRY_MS, type LossReason, type SubscriptionOptions } from '@scaleout/core'
import { adminFor, FreezingProxy, redisFor, sleep, waitUntil } from '../helpers/index.js'

const server = await redisFor(t)

interface Seen { messages: string[], channels: string[], ups: boolean[], losses: LossReason[], warnings: string[] }

/** A subscription on a fresh subscriber/publisher pair (quit at teardown), recording what it reports. */
function subscription (t: Test, url: string, options: Partial<SubscriptionOptions> = {}, publisherUrl = url): { sub: Subscription, seen: Seen, subscriber: Redis, publisher: Redis } {
  const seen: Seen = { messages: [], channels: [], ups: [], losses: [], warnings: [] }
  const subscriber = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 })
  const publisher = new Redis(publisherUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false })
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
    onMessage: (text, channel) => {
      seen.messages.push(text)
      seen.channels.push(channel)
    },
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
  const admin = adminFor(t, server)
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
  const admin = adminFor(t, server)
  await admin.publish('chan', 'after')
  await waitUntil('messages flow again', () => seen.messages.includes('after'), 5000)
})

t.test('a closed subscriber connection is a loss, and its reconnect subscribes again', async (t) => {
  const { sub, seen } = subscription(t, server.url)
  await sub.start(5000)
  const admin = adminFor(t, server)
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  await waitUntil('subscribed again', () => seen.ups.length === 2 && sub.connected, 10_000)
  t.same(seen.losses, ['closed'])
  t.same(seen.ups, [true, false])
})

t.test('without the heartbeat no ping is sent; pings refused by a publisher its owner closed are not counted against the link', async (t) => {
  const quiet = subscription(t, server.url)
  const before = (await server.commandStats()).publish ?? 0
  await quiet.sub.start(5000)
  const { sub, seen, publisher } = subscription(t, server.url, { heartbeatMs: 20, misses: 1 })
  await sub.start(5000)
  publisher.disconnect()
  await waitUntil('the publisher is closed', () => publisher.status === 'end', 5000)
  // Ticks go by with every ping refused at once (no offline queue), each refusal settled before the
  // next tick judges: the link is not judged.
  for (let i = 0; i < 5; i++) {
    sub.beat()
    await new Promise((resolve) => setImmediate(resolve))
  }
  t.equal(sub.connected, true)
  t.same(seen.losses, [])
  t.same(seen.warnings, [])
  t.equal((await server.commandStats()).publish ?? 0, before, 'no PUBLISH from either')
})

t.test('pings Redis refuses with an error reply are not counted against the link', async (t) => {
  const admin = adminFor(t, server)
  await admin.acl('SETUSER', 'nopub', 'on', '>pw', '~*', '&*', '+@all', '-publish')
  t.teardown(async () => { await admin.acl('DELUSER', 'nopub') })
  // The subscriber may subscribe; only the publisher is refused PUBLISH.
  const { sub, seen, publisher } = subscription(t, server.url, { misses: 1 }, `redis://nopub:pw@127.0.0.1:${server.port}`)
  await sub.start(5000)
  await waitUntil('the publisher is ready', () => publisher.status === 'ready', 5000)
  await t.rejects(publisher.publish('chan', 'x'), /NOPERM/, 'Redis refuses this publisher\'s PUBLISH')
  for (let i = 0; i < 5; i++) {
    sub.beat()
    await sleep(20)
  }
  t.equal(sub.connected, true)
  t.same(seen.losses, [])
  t.same(seen.warnings, [])
})

t.test('a SUBSCRIBE that fails is logged, the subscription stays down, and it is retried a second later', async (t) => {
  const admin = adminFor(t, server)
  await admin.acl('SETUSER', 'nosub2', 'on', '>pw', '~*', '&*', '+@all', '-subscribe')
  t.teardown(async () => { await admin.acl('DELUSER', 'nosub2') })
  const { sub, seen } = subscription(t, `redis://nosub2:pw@127.0.0.1:${server.port}`, { heartbeatMs: 20 })
  await sub.start(5000)
  t.equal(sub.connected, false)
  t.same(seen.ups, [])
  t.match(seen.warnings, [/could not subscribe to chan; retrying in 1000ms/])
  sub.beat()
  t.same(seen.losses, [], 'no heartbeat judges a subscription that is not up')
  await waitUntil('the retry, refused again', () => seen.warnings.length === 2, 5000)
  await admin.acl('SETUSER', 'nosub2', '+subscribe')
  await waitUntil('the next retry succeeds', () => sub.connected, 5000)
  t.same(seen.ups, [true])
})

t.test('channels added and removed beside the home channel', async (t) => {
  const { sub, seen, subscriber } = subscription(t, server.url)
  const admin = adminFor(t, server)
  sub.add('early')
  t.equal(sub.channels, 2, 'added before start: wanted, subscribed once ready')
  await sub.start(5000)
  sub.add('late')
  sub.add('late')
  t.equal(sub.channels, 3, 'adding twice changes nothing')
  await waitUntil('late subscribed', async () => (await admin.call('PUBSUB', 'NUMSUB', 'late') as [string, number])[1] === 1)
  t.same(await admin.call('PUBSUB', 'NUMSUB', 'early', 'chan'), ['early', 1, 'chan', 1])
  await admin.publish('early', 'e')
  await admin.publish('late', 'l')
  await waitUntil('both delivered', () => seen.messages.length === 2)
  t.same(seen.channels, ['early', 'late'])

  sub.remove('late')
  sub.remove('late')
  sub.remove('chan')
  t.equal(sub.channels, 2, 'the home channel cannot be removed; removing twice changes nothing')
  await waitUntil('late unsubscribed', async () => (await admin.call('PUBSUB', 'NUMSUB', 'late') as [string, number])[1] === 0)
  // A channel of someone else's on the same connection is not passed on.
  await subscriber.subscribe('foreign')
  await admin.publish('foreign', 'f')
  await admin.publish('early', 'e2')
  await waitUntil('e2 delivered', () => seen.messages.length === 3)
  t.same(seen.messages, ['e', 'l', 'e2'])
})

t.test('a channel removed while disconnected is unsubscribed on reconnect (ioredis had re-subscribed it)', async (t) => {
  const { sub, seen, subscriber } = subscription(t, server.url)
  const admin = adminFor(t, server)
  await sub.start(5000)
  sub.add('stale')
  await waitUntil('stale subscribed', async () => (await admin.call('PUBSUB', 'NUMSUB', 'stale') as [string, number])[1] === 1)
  subscriber.disconnect(true)
  sub.remove('stale')
  await waitUntil('up again', () => seen.ups.length === 2 && sub.connected, 5000)
  await waitUntil('stale dropped', async () => (await admin.call('PUBSUB', 'NUMSUB', 'stale') as [string, number])[1] === 0)
  t.same(await admin.call('PUBSUB', 'NUMSUB', 'chan'), ['chan', 1])
})

t.test('a channel Redis refuses is retried while wanted; one whose UNSUBSCRIBE is refused has its messages dropped', async (t) => {
  const admin = adminFor(t, server)
  // This user may subscribe to `chan` only, and may not UNSUBSCRIBE at all.
  await admin.acl('SETUSER', 'onechan', 'on', '>pw', '~*', 'resetchannels', '&chan', '+@all', '-unsubscribe')
  t.teardown(async () => { await admin.acl('DELUSER', 'onechan') })
  const { sub, seen } = subscription(t, `redis://onechan:pw@127.0.0.1:${server.port}`)
  await sub.start(5000)
  t.same(seen.ups, [true])
  sub.add('denied')
  await waitUntil('refused', () => seen.warnings.length === 1)
  await waitUntil('refused again on the retry', () => seen.warnings.length === 2, 5000)
  t.match(seen.warnings, [/could not subscribe to denied; retrying in 1000ms/, /could not subscribe to denied/])
  await admin.acl('SETUSER', 'onechan', '&denied')
  await waitUntil('subscribed by a retry', async () => (await admin.call('PUBSUB', 'NUMSUB', 'denied') as [string, number])[1] === 1, 5000)
  sub.remove('denied')
  // The UNSUBSCRIBE is refused: the channel stays subscribed in Redis but its messages are dropped.
  await admin.publish('denied', 'dropped')
  await admin.publish('chan', 'kept')
  await waitUntil('kept delivered', () => seen.messages.length === 1)
  t.same(seen.messages, ['kept'])
  t.same(await admin.call('PUBSUB', 'NUMSUB', 'denied'), ['denied', 1])
})

t.test('a refused channel never holds the home channel down; its retry is not sent once it is removed, nor while disconnected', async (t) => {
  const admin = adminFor(t, server)
  await admin.acl('SETUSER', 'onechan2', 'on', '>pw', '~*', 'resetchannels', '&chan', '+@all')
  t.teardown(async () => { await admin.acl('DELUSER', 'onechan2') })
  const { sub, seen, subscriber } = subscription(t, `redis://onechan2:pw@127.0.0.1:${server.port}`)
  sub.add('denied')
  sub.add('denied-2')
  await sub.start(5000)
  t.same(seen.ups, [true], 'up although `denied` was refused')
  t.match(seen.warnings, [/could not subscribe to 2 channels; retrying in 1000ms/])
  sub.remove('denied')
  sub.remove('denied-2')
  // Proving that nothing happens takes waiting past the retry's time.
  await sleep(SUBSCRIBE_RETRY_MS + 300)
  t.equal(seen.warnings.length, 1, 'not retried once removed')

  sub.add('denied-too')
  await waitUntil('refused', () => seen.warnings.length === 2)
  subscriber.disconnect()
  await sleep(SUBSCRIBE_RETRY_MS + 300)
  t.equal(seen.warnings.length, 2, 'not retried while disconnected')
  t.same(seen.losses, ['closed'])
})

// An ACL refuses a whole SUBSCRIBE for the one channel it forbids: retried as the same batch, the
// channels beside it stayed unsubscribed for good (after a restart, every channel of the batch).
t.test('channels refused together with one the ACL forbids are retried one by one, and subscribed', async (t) => {
  const admin = adminFor(t, server)
  await admin.acl('SETUSER', 'somechans', 'on', '>pw', '~*', 'resetchannels', '&chan', '&ok*', '+@all')
  t.teardown(async () => { await admin.acl('DELUSER', 'somechans') })
  const { sub, seen } = subscription(t, `redis://somechans:pw@127.0.0.1:${server.port}`)
  for (const channel of ['ok1', 'denied', 'ok2']) sub.add(channel)
  await sub.start(5000)
  t.match(seen.warnings, [/could not subscribe to 3 channels; retrying in 1000ms/])
  const numsub = async (channel: string): Promise<number> => (await admin.call('PUBSUB', 'NUMSUB', channel) as [string, number])[1]
  await waitUntil('ok1 and ok2 subscribed by the retry', async () => await numsub('ok1') === 1 && await numsub('ok2') === 1, 5000)
  await waitUntil('denied refused alone', () => seen.warnings.some((w) => /could not subscribe to denied;/.test(w)), 5000)
  await admin.publish('ok2', 'delivered')
  await waitUntil('delivered', () => seen.messages.length === 1)
  t.same(seen.messages, ['delivered'])
  sub.remove('denied')
})

t.test('sharded: SSUBSCRIBE and SPUBLISH, heartbeat included', async (t) => {
  const { sub, seen } = subscription(t, server.url, { sharded: true, heartbeatMs: 20 })
  const admin = adminFor(t, server)
  await sub.start(5000)
  sub.add('shard-a')
  await waitUntil('shard-a subscribed', async () => (await admin.call('PUBSUB', 'SHARDNUMSUB', 'shard-a') as [string, number])[1] === 1)
  t.same(await admin.call('PUBSUB', 'NUMSUB', 'chan'), ['chan', 0], 'nothing the classic way')
  await admin.call('SPUBLISH', 'shard-a', 'sa')
  await waitUntil('delivered', () => seen.messages.length === 1)
  t.same(seen.channels, ['shard-a'])
  await waitUntil('pings sent with SPUBLISH', async () => Number((await server.commandStats()).spublish) >= 4, 5000)
  sub.remove('shard-a')
  await waitUntil('shard-a dropped', async () => (await admin.call('PUBSUB', 'SHARDNUMSUB', 'shard-a') as [string, number])[1] === 0)
  t.same(seen.losses, [])
})

t.test('many channels are (re)subscribed in batches', async (t) => {
  const { sub, seen, subscriber } = subscription(t, server.url)
  const admin = adminFor(t, server)
  for (let i = 0; i < 700; i++) sub.add(`many:${i}`)
  const { commands } = await server.countCommands(async () => { await sub.start(5000) })
  t.equal(commands.subscribe, 3, 'the home channel alone, then 700 channels in two SUBSCRIBEs')
  t.equal((await admin.call('PUBSUB', 'NUMSUB', 'many:699') as [string, number])[1], 1)
  subscriber.disconnect(true)
  await waitUntil('up again', () => seen.ups.length === 2 && sub.connected, 5000)
  t.same(await admin.call('PUBSUB', 'NUMSUB', 'many:0', 'many:699'), ['many:0', 1, 'many:699', 1])
})

t.test('a SUBSCRIBE failing after stop() is not logged', async (t) => {
  const admin = adminFor(t, server)
  await admin.acl('SETUSER', 'nosub3', 'on', '>pw', '~*', '&*', '+@all', '-subscribe')
  t.teardown(async () => { await admin.acl('DELUSER', 'nosub3') })
  const { sub, seen, subscriber } = subscription(t, `redis://nosub3:pw@127.0.0.1:${server.port}`)
  await waitUntil('connected', () => subscriber.status === 'ready')
  const start = sub.start(5000)
  sub.stop()
  await start
  t.same(seen.warnings, [])
  t.equal(sub.connected, false)
})

t.test('a subscriber not ready yet subscribes on its first ready; a stop before SUBSCRIBE returns reports nothing', async (t) => {
  const late = subscription(t, server.url)
  // The 'ready' listener and start's own wait both subscribe: the second changes nothing.
  const started = late.sub.start(5000)
  await started
  await waitUntil('up', () => late.sub.connected, 5000)
  t.same(late.seen.ups, [true])

  const stopped = subscription(t, server.url)
  await waitUntil('connected', () => stopped.subscriber.status === 'ready')
  // Already ready: start() sends SUBSCRIBE at once, and its reply comes after the stop.
  const start = stopped.sub.start(5000)
  stopped.sub.stop()
  await start
  t.equal(stopped.sub.connected, false)
  t.same(stopped.seen.ups, [])
})

// Both links frozen: the pings got no answer, so none counted, and the subscription stayed
// "connected" for as long as the partition lasted.
t.test('regression: a partition that freezes the publisher\'s link too is declared lost', async (t) => {
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const { sub, seen, publisher } = subscription(t, proxy.url, { heartbeatMs: 50, misses: 2, timeoutMs: 100 })
  await sub.start(5000)
  // start() waits for the subscriber only. Both links up when the partition falls, so that the
  // pings go out and time out, the case this test is about (a publisher still on its way to Redis
  // is the next test's).
  await waitUntil('the publisher is ready', () => publisher.status === 'ready', 5000)
  proxy.refuseNew()
  t.equal(proxy.freezeAll(), 2)
  await waitUntil('the link is lost', () => seen.losses.length === 1, 10_000)
  t.same(seen.losses, ['silent'])
  t.match(seen.warnings, [/^test: heard nothing on chan and Redis did not answer some of our pings; forcing the subscriber to reconnect$/])
  proxy.acceptNew()
  await waitUntil('subscribed again', () => sub.connected, 10_000)
})

// In a partition the core reopens a client whose commands time out (silent-link.ts), and its
// reconnect then cannot get through. With no offline queue its pings were refused at once and not
// counted, so the partition was never declared, and an L1 kept coherent by this subscription went
// on serving values other instances had replaced.
t.test('regression: a partition during which the publisher is reconnecting is declared lost', async (t) => {
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const { sub, seen, publisher } = subscription(t, proxy.url, { heartbeatMs: 50, misses: 2, timeoutMs: 60_000 })
  await sub.start(5000)
  await waitUntil('the publisher is ready', () => publisher.status === 'ready', 5000)
  proxy.refuseNew()
  t.equal(proxy.freezeAll(), 2)
  publisher.disconnect(true)
  await waitUntil('the link is lost', () => seen.losses.length === 1, 10_000)
  t.same(seen.losses, ['silent'])
  t.same(seen.warnings, ['test: heard nothing on chan and our pings could not be sent (the publisher is not connected); forcing the subscriber to reconnect'])
  t.not(publisher.status, 'ready', 'the publisher never got through')
  proxy.acceptNew()
  await waitUntil('subscribed again', () => sub.connected, 10_000)
  await waitUntil('the publisher is back', () => publisher.status === 'ready', 10_000)
})
