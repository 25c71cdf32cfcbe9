import t from 'tap'
import Fastify from 'fastify'
import fastifyRedis from '@fastify/redis'
import { Redis } from 'ioredis'
import { closeClient, redisDefaults } from '@scaleout/core'
import broadcast from '@scaleout/broadcast'
import cache from '@scaleout/cache'
import health from '@scaleout/health'
import session from '@scaleout/session'
import { adminFor, freePort, logSink, RedisServer, waitUntil } from '../helpers/index.js'

// Issue 19: with Redis down at start-up, the plugins' clients logged dozens of warnings, and an app
// sharing @fastify/redis did not start at all. What the root README promises instead.
const SECRET = 'a-session-secret-of-at-least-32-chars'

t.test('every plugin with its own client, Redis down at start-up: the app starts, one warning, 503 until Redis comes', async (t) => {
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  const sink = logSink('warn')
  const app = Fastify({ logger: sink.logger })
  t.teardown(async () => await app.close())
  await app.register(health, { redis: url, redisCheck: { interval: '100ms' }, signals: false })
  await app.register(session, { secret: [SECRET], redis: url })
  await app.register(cache, { redis: url })
  await app.register(broadcast, { redis: url })
  app.delete('/cached', async () => ({ deleted: await app.cache.del('k') }))
  await app.ready()

  t.same(sink.messages(40), [`@scaleout/health: Redis at 127.0.0.1:${port} not reachable yet; requests needing it fail fast until it is (one warning for every plugin of the app using it)`])
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 503)
  const cached = await app.inject({ method: 'DELETE', url: '/cached' })
  t.equal(cached.statusCode, 503)
  t.equal(cached.json().code, 'SCALEOUT_ERR_REDIS_UNAVAILABLE')

  const server = await RedisServer.start({ port })
  t.teardown(async () => await server.stop())
  await waitUntil('/health/ready passes', async () => (await app.inject('/health/ready')).statusCode === 200)
  t.equal((await app.inject({ method: 'DELETE', url: '/cached' })).statusCode, 200)
  // Beyond it, only the 503 request's own error line (Fastify logs every 5xx reply with its reqId).
  t.same(sink.lines.filter((l) => l.level >= 40 && l.reqId === undefined).length, 1, 'and nothing more was logged while it was down')
})

t.test('@fastify/redis with Redis down: its registration waits for a connection, so the app does not start', async (t) => {
  const port = await freePort()
  const client = new Redis(`redis://127.0.0.1:${port}`, { ...redisDefaults })
  client.on('error', () => undefined)
  t.teardown(() => {
    // @fastify/redis, still waiting for 'ready', answers an 'end' with a quit() it never catches,
    // which ioredis 6.1 rejects on an ended client (6.0 emitted no 'end' here): an unhandled
    // rejection of @fastify/redis's own, not part of what this test shows.
    client.removeAllListeners('end')
    client.disconnect()
  })
  // Fastify gives up on a plugin after pluginTimeout (10 s by default): start-up fails.
  const app = Fastify({ pluginTimeout: 500 })
  await t.rejects(async () => {
    await app.register(fastifyRedis, { client })
    await app.ready()
  }, { code: 'AVV_ERR_PLUGIN_EXEC_TIMEOUT' })
})

t.test('the README workaround: one client of the app\'s own, given to every plugin, starts while Redis is down and is shared once it comes', async (t) => {
  const port = await freePort()
  process.env.REDIS_URL = `redis://127.0.0.1:${port}`
  t.teardown(() => { delete process.env.REDIS_URL })
  const sink = logSink('warn')
  // The README's block, as written there (with broadcast, which takes the client the same way).
  const app = Fastify({ logger: sink.logger })
  t.teardown(async () => await app.close())
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { ...redisDefaults })
  redis.on('error', (err) => { app.log.warn({ err }, 'Redis connection error') })
  app.addHook('onClose', async () => { await closeClient(redis) })
  await app.register(health, { redis, redisCheck: { interval: '100ms' }, signals: false })
  await app.register(session, { secret: [SECRET], redis })
  await app.register(cache, { redis })
  await app.register(broadcast, { redis })
  await app.ready()
  t.equal((await app.inject('/health/ready')).statusCode, 503)

  const server = await RedisServer.start({ port })
  t.teardown(async () => await server.stop())
  await waitUntil('/health/ready passes', async () => (await app.inject('/health/ready')).statusCode === 200)
  await app.cache.set('k', 'v')
  t.equal(await app.cache.get('k'), 'v')
  const admin = adminFor(t, server)
  t.equal((await admin.keys('*')).filter((k) => k.endsWith(':e:k')).length, 1, 'stored in Redis')
  const clients = (await admin.client('LIST') as string).trim().split('\n')
  t.equal(clients.length, 6, 'one shared connection, the session\'s and the cache\'s request-path connections, the cache\'s and broadcast\'s subscribers, and the test\'s')
  await app.close()
  t.equal(redis.status, 'end', 'the app quit its client on close')
})
