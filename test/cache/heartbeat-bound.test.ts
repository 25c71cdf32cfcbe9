import t from 'tap'
import cache from '@scaleout/cache'
import { HEARTBEAT_PREFIX } from '@scaleout/core'
import { adminFor, appFor, FreezingProxy, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// README: "A heartbeat on that channel catches a link that looks open but delivers nothing: L1 is
// flushed and bypassed within 3 s (with the defaults)", and under Heartbeat: "L1 stops serving
// values that other instances replaced at most `(heartbeatMisses + 1) × heartbeatInterval` after
// the link went silent: 3 s with the defaults."
//
// Proven without timing the loss: the heartbeat's period is the interval timer the plugin arms
// (observed as it is armed), and the loss comes on the tick after the last of the pings that went
// out into the silence, counted on Redis by a subscriber of the test's own. Pings + 1 ticks of one
// interval each is the bound.

const server = await redisFor(t)
const CHANNEL = 'scaleout:cache:json.v1:bus'

t.test('with the default options a silent invalidation link is judged lost on the 3rd heartbeat tick (3 x 1 s), and L1 is then flushed and bypassed', async (t) => {
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())

  // The heartbeat's timer is the only interval the cache arms: record the periods armed while it starts.
  const periods: number[] = []
  const setIntervalBefore = globalThis.setInterval
  globalThis.setInterval = ((callback: () => void, ms?: number) => {
    periods.push(ms as number)
    return setIntervalBefore(callback, ms)
  }) as typeof globalThis.setInterval
  t.teardown(() => { globalThis.setInterval = setIntervalBefore })
  const app = appFor(t)
  await app.register(cache, { redis: proxy.url }) // every option at its default
  await app.ready()
  globalThis.setInterval = setIntervalBefore
  t.same(periods, [1000], 'one heartbeat, every 1 s (heartbeatInterval\'s default)')

  const writer = await cacheApp(t, { redis: server.url }) // no heartbeat of its own
  const admin = adminFor(t, server)
  // What Redis delivers on the channel, in the order it ran the PUBLISHes: 'ping' or 'marker'.
  const heard: string[] = []
  const listener = server.client()
  t.teardown(() => listener.disconnect())
  listener.on('message', (_channel: string, text: string) => {
    if (text.startsWith(HEARTBEAT_PREFIX)) heard.push('ping')
    else if (text.includes('"marker"')) heard.push('marker')
  })
  await listener.subscribe(CHANNEL)

  await waitUntil('the bus is up', () => app.cache.stats().bus.connected, 10_000)
  await app.cache.set('k', 'old')
  t.equal(await app.cache.get('k'), 'old')
  t.equal(app.cache.stats().l1.entries, 1)

  // Right after a ping (the next is a second away), the instance hears one last message: a valid
  // invalidation of an unrelated key. From then on its link delivers nothing, though both ends
  // stay open, and its subscriber cannot come back.
  await waitUntil('a ping went by', () => heard.includes('ping'), 10_000)
  const messages = app.cache.stats().bus.messages
  await admin.publish(CHANNEL, JSON.stringify({ i: 'test', k: ['marker'] }))
  await waitUntil('the instance heard the marker', () => app.cache.stats().bus.messages === messages + 1, 10_000)
  proxy.refuseNew()
  t.equal(proxy.freezeSubscribers(), 1)
  await writer.cache.set('k', 'new')

  await waitUntil('the instance reports the link lost', () => !app.cache.stats().bus.connected, 30_000)
  // A second marker: Redis delivers in order, so every ping sent before it has arrived by then.
  await admin.publish(CHANNEL, JSON.stringify({ i: 'test', k: ['marker'] }))
  await waitUntil('the second marker arrived', () => heard.filter((h) => h === 'marker').length === 2, 10_000)
  const pings = heard.slice(heard.indexOf('marker') + 1, heard.lastIndexOf('marker')).length
  t.equal(pings, 2, 'heartbeatMisses\'s default: 2 pings went unanswered, and the tick after them judged the link lost')
  t.equal((pings + 1) * (periods[0] as number), 3000, 'so the bound with the defaults: (2 + 1) ticks x 1 s = 3 s')

  const stats = app.cache.stats()
  t.equal(stats.bus.connected, false)
  t.equal(stats.l1.entries, 0, 'L1 was flushed')
  t.equal(await app.cache.get('k'), 'new', 'the replaced value is read from Redis, not served from L1')
  t.equal(app.cache.stats().l1.entries, 0, 'and L1 is bypassed while the link is down')
  t.equal(app.cache.stats().l1.hits, 1, 'the only L1 hit was before the link went silent')
})
