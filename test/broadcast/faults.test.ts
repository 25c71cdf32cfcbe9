import t from 'tap'
import { Redis } from 'ioredis'
import type { BroadcastOptions } from '@scaleout/broadcast'
import type { Test } from 'tap'
import { adminFor, FreezingProxy, logSink, redisFor, sleep, waitUntil, type LogSink, type RedisServer } from '../helpers/index.js'
import { collect, startFleet, startInstance, waitRedisSubscribers, type Client, type Instance } from './helpers.js'

const unhandled: unknown[] = []
process.on('unhandledRejection', (err) => unhandled.push(err))

/** An admin client that rides out the server being killed and restarted. */
function patientAdmin (t: Test, server: RedisServer): ReturnType<RedisServer['client']> {
  const admin = server.client({ retryStrategy: () => 100 })
  admin.on('error', () => undefined)
  t.teardown(() => admin.disconnect())
  return admin
}

/** Waits until the instance logged that a SUBSCRIBE of `channel` failed `count` times. */
async function subscribeFailures (sink: LogSink, channel: string, count: number): Promise<void> {
  const line = `@scaleout/broadcast: could not subscribe to scaleout:broadcast:c:${channel}; retrying in 1000ms`
  await waitUntil(`${count} failed SUBSCRIBE of ${channel}`, () => sink.messages(40).filter((m) => m === line).length >= count, 10_000)
}

t.test('Redis killed and restarted: publish still delivers locally, then every channel is re-subscribed', async (t) => {
  const server = await redisFor(t)
  const admin = patientAdmin(t, server)
  const { instances, clients } = await startFleet(t, 3, { redis: server.url }, [['a', 'b', 'c']])
  for (const c of ['a', 'b', 'c']) await waitRedisSubscribers(admin, c, 3)
  const [first, second] = instances as [Instance, Instance]
  const temp = collect(second, 'temp')
  await waitRedisSubscribers(admin, 'temp', 1)

  await server.kill()
  const down = await first.app.broadcast.publish('a', 'while down')
  t.equal(down.delivered, 1, 'the local client got it')
  t.equal(down.remote, false)
  t.equal(down.receivers, null)
  t.equal((down.error as Error & { code: string }).code, 'SCALEOUT_ERR_REDIS_UNAVAILABLE')
  t.same(await (clients[0] as Client).waitFor(1), [{ channel: 'a', data: 'while down' }])
  t.equal(first.app.broadcast.stats().remoteFailures, 1)
  // Changes while Redis is away: one channel left, one joined.
  temp.off()
  const late = collect(second, 'late')

  await server.restart()
  for (const c of ['a', 'b', 'c']) await waitRedisSubscribers(admin, c, 3)
  await waitRedisSubscribers(admin, 'late', 1)
  await waitRedisSubscribers(admin, 'temp', 0)

  const up = await first.app.broadcast.publish('c', 'after restart')
  t.match(up, { delivered: 1, remote: true, receivers: 3, error: null })
  await first.app.broadcast.publish('late', 'joined while down')
  for (const [i, c] of clients.entries()) {
    t.same((await c.waitFor(i === 0 ? 2 : 1)).at(-1), { channel: 'c', data: 'after restart' })
  }
  await waitUntil('late message', () => late.seen.length === 1, 10_000)
  t.same(late.seen, ['joined while down'])
  late.off()
})

// Who bounds the wait: bounded() (timeout shorter than our client's command timeout, a client
// without one, a caller's client), or our own client's command timeout when it is no longer.
const PAUSED: Array<{ name: string, timeout: number, redis: (url: string) => BroadcastOptions['redis'] }> = [
  { name: 'timeout shorter than our client\'s command timeout', timeout: 300, redis: (url) => url },
  { name: 'our client\'s command timeout (1s) is the timeout (default 1s)', timeout: 1000, redis: (url) => url },
  { name: 'our client without a command timeout', timeout: 300, redis: (url) => ({ url, commandTimeout: undefined }) },
  { name: 'a caller\'s client without a command timeout', timeout: 300, redis: (url) => new Redis(url) }
]
for (const paused of PAUSED) {
  t.test(`Redis paused: publish times out remotely within timeout and still delivers locally (${paused.name})`, async (t) => {
    const server = await redisFor(t)
    const options = (): BroadcastOptions => {
      const redis = paused.redis(server.url)
      if (redis instanceof Redis) t.teardown(() => redis.disconnect())
      return { redis, ...(paused.timeout === 1000 ? {} : { timeout: paused.timeout }) }
    }
    const instances = [await startInstance(t, options()), await startInstance(t, options())]
    t.teardown(() => server.resume())
    const [a, b] = instances as [Instance, Instance]
    const here = collect(a, 'p')
    const there = collect(b, 'p')
    const admin = adminFor(t, server)
    await waitRedisSubscribers(admin, 'p', 2)
    server.pause()
    const started = performance.now()
    const result = await a.app.broadcast.publish('p', 1)
    const elapsed = performance.now() - started
    t.match(result, { delivered: 1, remote: false, receivers: null })
    t.equal((result.error as Error & { code: string }).code, 'SCALEOUT_ERR_REDIS_TIMEOUT')
    t.ok(elapsed >= paused.timeout - 50 && elapsed < paused.timeout + 500, `failed after ${Math.round(elapsed)}ms, about ${paused.timeout}ms`)
    t.same(here.seen, [1])
    server.resume()
    await waitUntil('publish works again', async () => (await a.app.broadcast.publish('p', 2)).remote, 10_000, 100)
    await waitUntil('remote delivery', () => there.seen.includes(2), 10_000)
    // remote: false means not confirmed: the PUBLISH was written, and the resumed Redis ran it.
    t.equal(there.seen[0], 1, 'the unconfirmed message reached the other instance, first')
  })
}

t.test('CLIENT KILL TYPE pubsub: the subscriber reconnects and re-subscribes', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const instance = await startInstance(t, { redis: server.url })
  const other = await startInstance(t, { redis: server.url })
  const got = collect(instance, 'k')
  await waitRedisSubscribers(admin, 'k', 1)
  t.equal(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub'), 2, 'both instances\' subscribers (each holds its own channel)')
  await waitRedisSubscribers(admin, 'k', 1)
  await waitUntil('delivery after the kill', async () => {
    await other.app.broadcast.publish('k', 'again')
    return got.seen.length > 0
  }, 10_000, 200)
  t.equal(got.seen[0], 'again')
})

t.test('heartbeat: a silently dead subscription is detected and the subscriber forced to reconnect', async (t) => {
  const server = await redisFor(t)
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const watched = await startInstance(t, { redis: proxy.url, heartbeatInterval: 100, heartbeatMisses: 2 })
  const blind = await startInstance(t, { redis: proxy.url, heartbeatInterval: false })
  const publisher = await startInstance(t, { redis: server.url })
  const admin = adminFor(t, server)
  const heard = collect(watched, 'h')
  const missed = collect(blind, 'h')
  await waitRedisSubscribers(admin, 'h', 2)
  await publisher.app.broadcast.publish('h', 'before')
  await waitUntil('both heard it', () => heard.seen.length === 1 && missed.seen.length === 1, 10_000)

  t.equal(proxy.freezeSubscribers(), 2)
  await waitUntil('a forced reconnect', () => watched.app.broadcast.stats().forcedReconnects >= 1, 15_000)
  await waitUntil('delivery after recovery', async () => {
    await publisher.app.broadcast.publish('h', 'after')
    return heard.seen.includes('after')
  }, 15_000, 200)
  t.same(missed.seen, ['before'], 'without a heartbeat the frozen subscriber never notices')
  t.equal(blind.app.broadcast.stats().forcedReconnects, 0)
})

// Every link frozen, the publisher's too: the pings got no answer and were not counted, so the
// subscriber was never reconnected and the instance missed every message while the partition lasted.
t.test('a partition that freezes every link: the heartbeat forces a reconnect, and messages arrive again', async (t) => {
  const server = await redisFor(t)
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const cut = await startInstance(t, { redis: proxy.url, heartbeatInterval: 100, heartbeatMisses: 2, timeout: 100 })
  const publisher = await startInstance(t, { redis: server.url })
  const admin = adminFor(t, server)
  const heard = collect(cut, 'p')
  await waitRedisSubscribers(admin, 'p', 1)
  proxy.refuseNew()
  t.equal(proxy.freezeAll(), 2, 'the command and subscriber links')
  await waitUntil('a forced reconnect', () => cut.app.broadcast.stats().forcedReconnects >= 1, 15_000)
  proxy.acceptNew()
  await waitUntil('delivery after recovery', async () => {
    await publisher.app.broadcast.publish('p', 'after')
    return heard.seen.includes('after')
  }, 15_000, 200)
})

t.test('a SUBSCRIBE that times out is retried a second later', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const sink = logSink('warn')
  const instance = await startInstance(t, { redis: server.url, timeout: 200 }, { log: sink })
  const other = await startInstance(t, { redis: server.url })
  t.teardown(() => server.resume())
  const before = (await server.commandStats()).subscribe ?? 0
  server.pause()
  const got = collect(instance, 'r')
  await subscribeFailures(sink, 'r', 1)
  server.resume()
  // The timed-out SUBSCRIBE still reached Redis once it woke; the retry follows it.
  await waitUntil('the retry', async () => ((await server.commandStats()).subscribe ?? 0) - before >= 2, 10_000)
  await waitRedisSubscribers(admin, 'r', 1)
  await waitUntil('delivered', async () => {
    await other.app.broadcast.publish('r', 'ok')
    return got.seen.length > 0
  }, 10_000, 200)
  t.equal(got.seen[0], 'ok')
})

t.test('a channel whose SUBSCRIBE failed: dropped when nobody wants it any more, subscribed after a restart when still wanted', async (t) => {
  const server = await redisFor(t)
  const admin = patientAdmin(t, server)
  const sink = logSink('warn')
  const instance = await startInstance(t, { redis: server.url, timeout: 200 }, { log: sink })
  t.teardown(() => server.resume())
  await admin.ping()
  server.pause()
  const gone = collect(instance, 'gone')
  await subscribeFailures(sink, 'gone', 1)
  gone.off()
  server.resume()
  t.equal(instance.app.broadcast.stats().channels, 1, 'only the instance\'s own channel')
  await waitRedisSubscribers(admin, 'gone', 0)

  server.pause()
  const kept = collect(instance, 'kept')
  await subscribeFailures(sink, 'kept', 1)
  await server.kill()
  await server.restart()
  await waitRedisSubscribers(admin, 'kept', 1)
  kept.off()
})

t.test('none of the faults above caused an unhandled rejection', async (t) => {
  // A grace period, not a wait for an event: a rejection still pending would surface within it.
  await sleep(200)
  t.same(unhandled, [])
})
