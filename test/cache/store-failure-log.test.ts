import t, { type Test } from 'tap'
import cache from '@scaleout/cache'
import { appFor, logSink, redisFor } from '../helpers/index.js'

// While Redis was away, every set(), and every value wrap() computed, logged "could not store a value
// in Redis" at warn: with the breaker open each write fails at once, so an outage made every request
// write a warning, and the logging itself became the load. The first is still logged, then at most
// one a minute with the number held back since; stats() counts each failure (timeouts, skipped).

/** A cache whose Redis took one write, then stopped answering; its breaker opens on the first timeout. */
async function cacheWithRedisAway (t: Test): Promise<{ app: ReturnType<typeof appFor>, sink: ReturnType<typeof logSink> }> {
  const server = await redisFor(t)
  const sink = logSink('warn')
  const app = appFor(t, { logger: sink.logger })
  await app.register(cache, { redis: server.url, timeout: 300, heartbeatInterval: false, l1: false, breaker: { threshold: 1, cooldown: '1h' } })
  await app.ready()
  await app.cache.set('k', 'before')
  server.pause()
  t.teardown(() => server.resume())
  return { app, sink }
}

t.test('regression: every write that failed while Redis was away logged a warning', async (t) => {
  const { app, sink } = await cacheWithRedisAway(t)
  for (let i = 0; i < 5; i++) await app.cache.set(`k${i}`, i)
  for (let i = 0; i < 5; i++) t.equal(await app.cache.wrap(`w${i}`, () => i), i)
  const stats = app.cache.stats()
  t.same([stats.timeouts, stats.breaker.state], [1, 'open'])
  t.ok(stats.skipped >= 9, `${stats.skipped} calls skipped`)
  const stored = sink.lines.filter((l) => String(l.msg).startsWith('@scaleout/cache: could not store a value in Redis'))
  t.same(stored.map((l) => [l.msg, (l.err as { code?: string }).code, l.key]), [['@scaleout/cache: could not store a value in Redis; carrying on without it', 'SCALEOUT_ERR_REDIS_TIMEOUT', 'k0']], 'the first only')
})

t.test('regression: every value wrap() computed without its tag tokens while Redis was away logged a warning', async (t) => {
  const { app, sink } = await cacheWithRedisAway(t)
  for (let i = 0; i < 5; i++) t.equal(await app.cache.wrap(`w${i}`, () => i, { tags: ['t'] }), i)
  t.equal(app.cache.stats().storeErrors, 5, 'each counted')
  const missing = sink.lines.filter((l) => String(l.msg).startsWith('@scaleout/cache: could not read the tag tokens'))
  t.same(missing.map((l) => [l.msg, l.key]), [['@scaleout/cache: could not read the tag tokens before the value was computed; returned it uncached', 'w0']], 'the first only')
})
