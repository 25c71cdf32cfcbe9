import t from 'tap'
import Fastify from 'fastify'
import cache, { cache as named, type CacheOptions } from '@scaleout/cache'
import { RedisServer } from '../helpers/index.js'
import { keyInGeneration } from './setup.js'

const server = await RedisServer.start()
t.teardown(async () => await server.stop())

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
    [{ staleTtl: -1 }, 'staleTtl'],
    [{ l1: 'yes' }, 'l1'],
    [{ l1: { maxEntries: 0 } }, 'l1.maxEntries'],
    [{ l1: { maxBytes: 1.5 } }, 'l1.maxBytes'],
    [{ l1: { ttl: 'x' } }, 'l1.ttl'],
    [{ timeoutMs: 0 }, 'timeoutMs'],
    [{ codec: { name: 'x' } }, 'codec'],
    [{ maxBytes: 0 }, 'maxBytes'],
    [{ version: -1 }, 'version'],
    [{ version: 'a b' }, 'version'],
    [{ lockTtl: 0 }, 'lockTtl'],
    [{ lockWait: 'x' }, 'lockWait'],
    [{ breaker: true }, 'breaker'],
    [{ breaker: { threshold: 0 } }, 'breaker.threshold'],
    [{ breaker: { cooldownMs: 'x' } }, 'breaker.cooldownMs'],
    [{ heartbeatInterval: '5ms' }, 'heartbeatInterval'],
    [{ heartbeatInterval: true }, 'heartbeatInterval'],
    [{ heartbeatMisses: 0 }, 'heartbeatMisses'],
    [{ redis: 42 }, 'redis']
  ]
  for (const [options, name] of cases) {
    const app = Fastify()
    app.register(cache, options as CacheOptions)
    await t.rejects(async () => { await app.ready() }, { code: 'SCALEOUT_ERR_INVALID_OPTION', message: new RegExp(`option \`${name.replace('.', '\\.')}\` is invalid`) }, JSON.stringify(options))
    t.equal(app.hasDecorator('cache'), false)
    await app.close()
  }
})

t.test('accepted forms: durations as numbers or strings, version as number or word, l1: true', async (t) => {
  const app = Fastify()
  t.teardown(async () => await app.close())
  await app.register(cache, { redis: server.url, timeoutMs: 3000, ttl: '1h', staleTtl: 30, l1: true, version: 'v-2.1', lockTtl: '5s', lockWait: 0, breaker: { threshold: 2, cooldownMs: 100 }, heartbeatInterval: '2s', heartbeatMisses: 3 })
  await app.ready()
  await app.cache.set('k', 1)
  t.equal(await app.cache.get('k'), 1)
})

t.test('without a redis option it uses REDIS_URL', async (t) => {
  const previous = process.env.REDIS_URL
  process.env.REDIS_URL = server.url
  t.teardown(() => {
    if (previous === undefined) delete process.env.REDIS_URL
    else process.env.REDIS_URL = previous
  })
  const app = Fastify()
  t.teardown(async () => await app.close())
  await app.register(cache, { timeoutMs: 3000 })
  await app.ready()
  await app.cache.set('env', 'yes')
  t.equal(await app.cache.get('env'), 'yes')
})

t.test('a client passed in is not closed with the app; the subscriber duplicate is', async (t) => {
  const mine = server.client()
  t.teardown(() => mine.disconnect())
  const app = Fastify()
  await app.register(cache, { redis: mine, timeoutMs: 3000 })
  await app.ready()
  await app.cache.set('k', 'v')
  await app.close()
  t.equal(mine.status, 'ready')
  t.equal(await mine.exists(await keyInGeneration(mine, 'k')), 1)
  t.equal(await mine.pubsub('NUMSUB', 'scaleout:cache:json.v1:bus').then((r) => (r as [string, number])[1]), 0, 'subscriber quit')
})
