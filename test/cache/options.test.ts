import t from 'tap'
import Fastify from 'fastify'
import cache, { cache as named, type CacheOptions } from '@scaleout/cache'
import { adminFor, appFor, redisFor } from '../helpers/index.js'
import { cacheApp, keyInGeneration } from './setup.js'

const server = await redisFor(t)

t.test('the default and the named export are the same plugin', async (t) => {
  t.equal(cache, named)
})

t.test('every bad option fails registration with a coded error naming it, before anything is decorated', async (t) => {
  const cases: Array<[unknown, string]> = [
    ['nope', 'options'],
    [{ prefix: 'a{b}' }, 'prefix'],
    [{ ttl: 0 }, 'ttl'],
    [{ ttl: 'forever' }, 'ttl'],
    [{ ttl: '200y' }, 'ttl'],
    [{ ttl: 101 * 365 * 86_400_000 }, 'ttl'],
    [{ staleTtl: -1 }, 'staleTtl'],
    [{ l1: 'yes' }, 'l1'],
    [{ l1: { maxEntries: 0 } }, 'l1.maxEntries'],
    [{ l1: { maxBytes: 1.5 } }, 'l1.maxBytes'],
    [{ l1: { ttl: 'x' } }, 'l1.ttl'],
    [{ timeout: 0 }, 'timeout'],
    [{ timeout: '2m' }, 'timeout'],
    [{ codec: { name: 'x' } }, 'codec'],
    // json.v2 with version 3 would read and write the entries of json with version 2.v3.
    [{ codec: { name: 'json.v2', encode: JSON.stringify, decode: JSON.parse } }, 'codec'],
    [{ maxBytes: 0 }, 'maxBytes'],
    [{ version: -1 }, 'version'],
    [{ version: 'a b' }, 'version'],
    [{ lockTtl: 0 }, 'lockTtl'],
    [{ lockWait: 'x' }, 'lockWait'],
    [{ breaker: true }, 'breaker'],
    [{ breaker: { threshold: 0 } }, 'breaker.threshold'],
    [{ breaker: { threshold: 1001 } }, 'breaker.threshold'],
    [{ breaker: { cooldown: 'x' } }, 'breaker.cooldown'],
    [{ breaker: { cooldown: '2h' } }, 'breaker.cooldown'],
    [{ heartbeatInterval: '5ms' }, 'heartbeatInterval'],
    [{ heartbeatInterval: 5 }, 'heartbeatInterval'],
    [{ heartbeatInterval: true }, 'heartbeatInterval'],
    [{ heartbeatMisses: 0 }, 'heartbeatMisses'],
    [{ redis: 42 }, 'redis']
  ]
  for (const [options, name] of cases) {
    const app = appFor(t)
    app.register(cache, options as CacheOptions)
    await t.rejects(async () => { await app.ready() }, { code: 'SCALEOUT_ERR_INVALID_OPTION', message: new RegExp(`option \`${name.replace('.', '\\.')}\` is invalid`) }, JSON.stringify(options))
    t.equal(app.hasDecorator('cache'), false)
  }
})

t.test('durations are milliseconds or strings, checked against a range that the error names', async (t) => {
  const cases: Array<[unknown, string]> = [
    [{ ttl: 0 }, '@scaleout/cache: option `ttl` is invalid: expected a duration from 1ms to 36500d: a number of milliseconds or a string such as "500ms", "30s", "15m", "24h"'],
    [{ timeout: 60_001 }, '@scaleout/cache: option `timeout` is invalid: expected a duration from 1ms to 1m: a number of milliseconds or a string such as "500ms", "30s", "15m", "24h"'],
    [{ heartbeatInterval: 9 }, '@scaleout/cache: option `heartbeatInterval` is invalid: expected a duration from 10ms to 1h: a number of milliseconds or a string such as "500ms", "30s", "15m", "24h"'],
    [{ breaker: { cooldown: 0 } }, '@scaleout/cache: option `breaker.cooldown` is invalid: expected a duration from 1ms to 1h: a number of milliseconds or a string such as "500ms", "30s", "15m", "24h"']
  ]
  for (const [options, message] of cases) {
    const app = appFor(t)
    app.register(cache, options as CacheOptions)
    await t.rejects(async () => { await app.ready() }, { code: 'SCALEOUT_ERR_INVALID_OPTION', message }, JSON.stringify(options))
  }
})

t.test('regression: an unknown option such as { tll: 60 } was silently accepted; it fails naming the closest option', async (t) => {
  const cases: Array<[unknown, string]> = [
    [{ tll: 60 }, '@scaleout/cache: option `tll` is invalid: expected no such option: did you mean `ttl`? the options are redis, prefix, ttl, staleTtl, l1, timeout, codec, maxBytes, version, lockTtl, lockWait, breaker, heartbeatInterval, heartbeatMisses'],
    [{ timeoutMs: 250 }, '@scaleout/cache: option `timeoutMs` is invalid: expected no such option: did you mean `timeout`? the options are redis, prefix, ttl, staleTtl, l1, timeout, codec, maxBytes, version, lockTtl, lockWait, breaker, heartbeatInterval, heartbeatMisses'],
    [{ l1: { maxEntry: 10 } }, '@scaleout/cache: option `l1.maxEntry` is invalid: expected no such option: did you mean `maxEntries`? the options are maxEntries, maxBytes, ttl'],
    [{ breaker: { cooldownMs: 500 } }, '@scaleout/cache: option `breaker.cooldownMs` is invalid: expected no such option: did you mean `cooldown`? the options are threshold, cooldown'],
    [{ logLevel: 'warn' }, '@scaleout/cache: option `logLevel` is invalid: expected no such option: `logLevel` is a Fastify register option, which Fastify ignores for plugins wrapped in fastify-plugin such as this one'],
    [{ logSerializers: {} }, '@scaleout/cache: option `logSerializers` is invalid: expected no such option: `logSerializers` is a Fastify register option, which Fastify ignores for plugins wrapped in fastify-plugin such as this one']
  ]
  for (const [options, message] of cases) {
    const app = appFor(t)
    app.register(cache, options as CacheOptions)
    await t.rejects(async () => { await app.ready() }, { code: 'SCALEOUT_ERR_INVALID_OPTION', message }, JSON.stringify(options))
    t.equal(app.hasDecorator('cache'), false)
  }
})

t.test('accepted forms: durations as milliseconds or strings, version as number or word, l1: true', async (t) => {
  const app = appFor(t)
  await app.register(cache, { redis: server.url, timeout: '3s', ttl: '1h', staleTtl: 30_000, l1: true, version: 'v-2.1', lockTtl: 5000, lockWait: 0, breaker: { threshold: 2, cooldown: '100ms' }, heartbeatInterval: 2000, heartbeatMisses: 3 })
  await app.ready()
  await app.cache.set('k', 1)
  t.equal(await app.cache.get('k'), 1)
})

t.test('prefix is the Redis key prefix of the namespace, not a Fastify route prefix', async (t) => {
  const app = await cacheApp(t, { redis: server.url, prefix: 'mine:' }, (app) => {
    app.get('/r', { config: { cache: { ttl: '1m' } } }, async () => 'r')
  })
  t.equal((await app.inject('/r')).statusCode, 200, 'routes keep their own paths')
  await app.cache.set('k', 1)
  const admin = adminFor(t, server)
  t.equal(await admin.exists(await keyInGeneration(admin, 'k', 'e', 'mine:json.v1:')), 1)
})

t.test('numbers are milliseconds: a ttl of 60 is 60 ms, not a minute', async (t) => {
  // A long stale window keeps the entry in Redis, so its header can be read after the ttl passed.
  const app = await cacheApp(t, { redis: server.url, ttl: 60, staleTtl: '1h', l1: false })
  const admin = adminFor(t, server)
  for (const [key, options] of [['k', undefined], ['j', { ttl: 60, staleTtl: 3_600_000 }]] as const) {
    const before = Date.now()
    await app.cache.set(key, 1, options)
    const after = Date.now()
    const raw = await admin.get(await keyInGeneration(admin, key)) as string
    const [expiresAt, staleUntil] = JSON.parse(raw.split('\n')[0] as string) as [number, number]
    t.ok(expiresAt >= before + 60 && expiresAt <= after + 60, `${key} fresh for 60 ms`)
    t.equal(staleUntil - expiresAt, 3_600_000, `${key} stale for an hour`)
  }
})

t.test('defaults: ttl 1 minute; every Redis call bounded by 250 ms; the breaker opens after 5 failures in a row', async (t) => {
  const local = await redisFor(t)
  t.teardown(() => local.resume())
  const app = appFor(t)
  await app.register(cache, { redis: local.url, l1: false, heartbeatInterval: false })
  await app.ready()
  const admin = adminFor(t, local)
  const before = Date.now()
  await app.cache.set('k', 1)
  const after = Date.now()
  const raw = await admin.get(await keyInGeneration(admin, 'k')) as string
  const [expiresAt] = JSON.parse(raw.split('\n')[0] as string) as [number]
  t.ok(expiresAt >= before + 60_000 && expiresAt <= after + 60_000, 'fresh for one minute')

  local.pause()
  for (let i = 1; i <= 5; i++) {
    await t.rejects(app.cache.del('k'), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', message: 'Redis did not answer within 250ms' }, `failure ${i}`)
  }
  t.equal(app.cache.stats().breaker.state, 'open')
  await t.rejects(app.cache.del('k'), { code: 'SCALEOUT_ERR_CACHE_BREAKER_OPEN' }, 'skipped while open')
})

t.test('without a redis option it uses REDIS_URL', async (t) => {
  const previous = process.env.REDIS_URL
  process.env.REDIS_URL = server.url
  t.teardown(() => {
    if (previous === undefined) delete process.env.REDIS_URL
    else process.env.REDIS_URL = previous
  })
  const app = appFor(t)
  await app.register(cache, { timeout: 3000 })
  await app.ready()
  await app.cache.set('env', 'yes')
  t.equal(await app.cache.get('env'), 'yes')
})

t.test('a client passed in is not closed with the app; the subscriber duplicate is', async (t) => {
  const mine = adminFor(t, server)
  // Closed by hand: the test is about what closing does.
  const app = Fastify()
  await app.register(cache, { redis: mine, timeout: 3000 })
  await app.ready()
  await app.cache.set('k', 'v')
  await app.close()
  t.equal(mine.status, 'ready')
  t.equal(await mine.exists(await keyInGeneration(mine, 'k')), 1)
  t.equal(await mine.pubsub('NUMSUB', 'scaleout:cache:json.v1:bus').then((r) => (r as [string, number])[1]), 0, 'subscriber quit')
})

t.test('a codec name with ".v" is refused with a message that says why', async (t) => {
  const app = appFor(t)
  app.register(cache, { redis: 'redis://127.0.0.1:1', codec: { name: 'json.v2', encode: JSON.stringify, decode: JSON.parse } } as CacheOptions)
  await t.rejects(async () => { await app.ready() }, { code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/cache: option `codec` is invalid: expected a name without ".v" (the cache\'s keys start <prefix><name>.v<version>), not "json.v2"' })
})
