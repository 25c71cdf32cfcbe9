import t, { type Test } from 'tap'
import fastifyRedis from '@fastify/redis'
import health from '@scaleout/health'
import { appFor, redisFor } from '../helpers/index.js'

// Regression: health was the only Redis plugin that ignored fastify.redis and REDIS_URL, so the
// root README's "absent: fastify.redis, else REDIS_URL" was false for it and a service whose every
// other plugin used Redis reported ready with Redis down.

function withRedisUrl (t: Test, value: string | undefined): void {
  const before = process.env.REDIS_URL
  if (value === undefined) delete process.env.REDIS_URL
  else process.env.REDIS_URL = value
  t.teardown(() => {
    if (before === undefined) delete process.env.REDIS_URL
    else process.env.REDIS_URL = before
  })
}

t.test('without a redis option, the client of @fastify/redis is checked', async (t) => {
  const server = await redisFor(t)
  withRedisUrl(t, undefined)
  const app = appFor(t)
  await app.register(fastifyRedis, { url: server.url })
  await app.register(health)
  await app.ready()
  const { result, commands } = await server.countCommands(async () => await app.health.refresh())
  t.match(result.checks['redis:responseTime'], [{ status: 'pass' }])
  t.same(commands, { ping: 1 })
  t.equal(app.redis.status, 'ready')
})

t.test('without a redis option nor @fastify/redis, REDIS_URL is checked', async (t) => {
  const server = await redisFor(t)
  withRedisUrl(t, server.url)
  const app = appFor(t)
  await app.register(health)
  await app.ready()
  const { result, commands } = await server.countCommands(async () => await app.health.refresh())
  t.match(result.checks['redis:responseTime'], [{ status: 'pass' }])
  t.same(commands, { ping: 1 })
})

t.test('with no Redis configured anywhere, or redis: false, there is no Redis check', async (t) => {
  const server = await redisFor(t)
  withRedisUrl(t, undefined)
  const none = appFor(t)
  await none.register(health)
  t.equal((await none.health.refresh()).checks['redis:responseTime'], undefined)

  withRedisUrl(t, server.url)
  const off = appFor(t)
  await off.register(health, { redis: false })
  const { result, total } = await server.countCommands(async () => await off.health.refresh())
  t.equal(result.checks['redis:responseTime'], undefined)
  t.equal(total, 0)
})

t.test('a decoration named redis that is not a Redis client is not taken for one', async (t) => {
  withRedisUrl(t, undefined)
  const app = appFor(t)
  app.decorate('redis', { not: 'a client' } as never)
  await app.register(health)
  t.equal((await app.health.refresh()).checks['redis:responseTime'], undefined)
})
