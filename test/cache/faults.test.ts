import t from 'tap'
import cache from '@scaleout/cache'
import { appFor, logSink, redisFor, sleep, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// Generous on purpose: the machine is shared. The point is "bounded", not "fast".
const BOUND_MS = 3000

async function timed<T> (fn: () => Promise<T>): Promise<{ result: T, ms: number }> {
  const started = Date.now()
  const result = await fn()
  return { result, ms: Date.now() - started }
}

t.test('a paused Redis: every call is bounded, reads miss, wrap computes once, set carries on; the breaker opens and recovers', async (t) => {
  const server = await redisFor(t)
  const sink = logSink('warn')
  const app = appFor(t, { logger: sink.logger })
  await app.register(cache, { redis: server.url, l1: false, timeout: 500, breaker: { threshold: 3, cooldown: 500 } })
  await app.ready()
  await app.cache.set('k', 'before')
  t.equal(await app.cache.get('k'), 'before')

  server.pause()
  const get = await timed(async () => await app.cache.get('k'))
  t.equal(get.result, undefined, 'a miss')
  t.ok(get.ms < BOUND_MS, `get bounded: ${get.ms}ms`)
  t.equal(app.cache.stats().timeouts, 1)

  let calls = 0
  const wrap = await timed(async () => await Promise.all(Array.from({ length: 10 }, async () => await app.cache.wrap('w', async () => ++calls))))
  t.same(wrap.result, Array(10).fill(1), 'computed once, coalesced')
  t.equal(calls, 1)
  t.ok(wrap.ms < BOUND_MS * 2, `wrap bounded: ${wrap.ms}ms`)

  const set = await timed(async () => await app.cache.set('k2', 'v'))
  t.ok(set.ms < BOUND_MS, `set bounded and did not throw: ${set.ms}ms`)
  t.ok(sink.messages().includes('@scaleout/cache: could not store a value in Redis; carrying on without it'), 'set logged')

  let stats = app.cache.stats()
  t.equal(stats.breaker.state, 'open')
  t.equal(stats.breaker.opens, 1)
  t.ok(sink.messages().some((msg) => /Redis keeps failing/.test(msg)), 'opening the breaker is logged')
  const skipped = await timed(async () => await app.cache.get('k'))
  t.equal(skipped.result, undefined)
  t.ok(app.cache.stats().skipped >= 1, 'no Redis call while open')
  await t.rejects(app.cache.del('k'), { code: 'SCALEOUT_ERR_CACHE_BREAKER_OPEN', statusCode: 503 }, 'an invalidation that did not happen is reported')

  // Half-open probe while still paused, once the cool-off has passed (the breaker reads the clock,
  // it arms no timer to wait on): the probe fails and reopens the breaker.
  await sleep(550)
  t.equal(await app.cache.get('k'), undefined)
  stats = app.cache.stats()
  t.equal(stats.breaker.state, 'open')
  t.equal(stats.breaker.opens, 2)

  server.resume()
  await waitUntil('Redis answers again', async () => await app.cache.get('k') === 'before', 10_000)
  stats = app.cache.stats()
  t.equal(stats.breaker.state, 'closed')
  await app.cache.set('k', 'after')
  t.equal(await app.cache.get('k'), 'after')
})

t.test('a killed Redis: fail open and bounded; L1 is bypassed while invalidations cannot arrive; all recovers after restart', async (t) => {
  const server = await redisFor(t)
  const app = await cacheApp(t, { redis: server.url, timeout: 1000, breaker: false })
  await app.cache.set('k', 'v')
  t.equal(await app.cache.get('k'), 'v')
  t.equal(app.cache.stats().l1.entries, 1)

  await server.kill()
  await waitUntil('bus down', async () => !app.cache.stats().bus.connected, 10_000)
  t.equal(app.cache.stats().l1.entries, 0, 'L1 flushed: invalidations may be missed from now on')
  const get = await timed(async () => await app.cache.get('k'))
  t.equal(get.result, undefined)
  t.ok(get.ms < BOUND_MS, `bounded: ${get.ms}ms`)
  let calls = 0
  t.equal(await app.cache.wrap('w', () => ++calls), 1)
  t.equal(await app.cache.wrap('w', () => ++calls), 2, 'nothing kept in L1 while the bus is down')
  await app.cache.set('x', 1)
  await t.rejects(app.cache.invalidateTags(['t']), { code: 'SCALEOUT_ERR_REDIS_UNAVAILABLE', statusCode: 503 })
  await t.rejects(app.cache.clear(), { code: 'SCALEOUT_ERR_REDIS_UNAVAILABLE', statusCode: 503 })
  const stats = app.cache.stats()
  t.ok(stats.redisErrors + stats.timeouts >= 5)
  t.equal(stats.breaker.state, 'closed', 'breaker: false never opens')

  await server.restart()
  await waitUntil('resubscribed', async () => app.cache.stats().bus.connected && app.cache.stats().bus.resyncs === 1, 15_000)
  await waitUntil('writes work again', async () => {
    await app.cache.set('k', 'again')
    return await app.cache.get('k') === 'again'
  }, 10_000)
  t.equal(app.cache.stats().l1.entries, 1, 'L1 in use again')
})

t.test('Redis down at startup: registration completes, the cache fails open, and it recovers once Redis is up', async (t) => {
  const server = await redisFor(t)
  const port = server.port
  await server.kill()
  const app = await cacheApp(t, { redis: `redis://127.0.0.1:${port}`, timeout: 1000 })
  t.equal(app.cache.stats().bus.connected, false)
  t.equal(await app.cache.wrap('k', () => 'computed'), 'computed')
  await server.restart()
  await waitUntil('bus up', async () => app.cache.stats().bus.connected, 15_000)
  t.equal(app.cache.stats().bus.resyncs, 0, 'a first subscription is not a resync')
  await waitUntil('stores again', async () => {
    await app.cache.set('k', 'stored')
    return await app.cache.get('k') === 'stored'
  }, 10_000)
})

// The README: del, invalidateTags and clear reject when Redis fails them, and this instance's L1
// is dropped all the same. Here the bus stays up and L1 in use, so nothing else would flush it.
t.test('an invalidation that Redis refuses rejects, and this instance\'s L1 copy is dropped all the same', async (t) => {
  const server = await redisFor(t)
  const admin = server.client()
  t.teardown(() => { admin.disconnect() })
  await admin.call('ACL', 'SETUSER', 'nodel', 'on', '>pw-0123456789', '~*', '&*', '+@all', '-del')
  const app = await cacheApp(t, { redis: `redis://nodel:pw-0123456789@127.0.0.1:${server.port}` })
  t.equal(app.cache.stats().bus.connected, true)
  const l2Hits = (): number => app.cache.stats().l2.hits

  await app.cache.set('k', 'v')
  t.equal(await app.cache.get('k'), 'v')
  t.equal(l2Hits(), 0, 'served from L1')
  await t.rejects(app.cache.del('k'), { code: 'SCALEOUT_ERR_REDIS_NOPERM', statusCode: 500 })
  t.equal(await app.cache.get('k'), 'v', 'still in Redis: the DEL was refused')
  t.equal(l2Hits(), 1, 'read from Redis: the L1 copy was dropped')

  await app.cache.set('tagged', 'v', { tags: ['t'] })
  t.equal(await app.cache.get('tagged'), 'v')
  t.equal(l2Hits(), 1, 'served from L1')
  await t.rejects(app.cache.invalidateTags(['t']), { code: 'SCALEOUT_ERR_REDIS_NOPERM', statusCode: 500 })
  t.equal(await app.cache.get('tagged'), 'v')
  t.equal(l2Hits(), 2, 'read from Redis: the L1 copy was dropped')

  // The generation key of another type: the clear() script fails; reads keep the generation they know.
  await admin.call('ACL', 'SETUSER', 'nodel', '+del')
  const gen = await admin.get('scaleout:cache:json.v1:gen') as string
  await admin.del('scaleout:cache:json.v1:gen')
  await admin.hset('scaleout:cache:json.v1:gen', 'g', gen)
  await t.rejects(app.cache.clear(), { code: 'SCALEOUT_ERR_REDIS_REPLY', statusCode: 500 })
  t.equal(await app.cache.get('k'), 'v')
  t.equal(l2Hits(), 3, 'read from Redis: L1 was dropped')
  t.equal(app.cache.stats().bus.connected, true, 'the bus stayed up throughout')
})
