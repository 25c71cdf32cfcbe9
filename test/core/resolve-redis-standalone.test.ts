import t from 'tap'
import Fastify from 'fastify'
import fastifyRedis from '@fastify/redis'
import { Redis } from 'ioredis'
import { resolveRedis, isRedisClient, waitForReady } from '@scaleout/core'
import { RedisServer } from '../helpers/index.js'

const plugin = '@scaleout/test'

t.test('resolveRedis against a standalone server', async (t) => {
  const server = await RedisServer.start()
  t.teardown(async () => await server.stop())

  t.test('a URL makes a client we own and quit on close', async (t) => {
    const app = Fastify()
    const resolved = await resolveRedis(app, server.url, { plugin })
    t.equal(resolved.owned, true)
    t.equal(resolved.isCluster, false)
    t.equal(resolved.source, 'url')
    t.equal(resolved.client.status, 'ready')
    t.equal(await waitForReady(resolved.client, 10), true)
    t.equal(await resolved.client.set('k', 'v'), 'OK')
    t.equal(await resolved.client.get('k'), 'v')
    await app.close()
    t.equal(resolved.client.status, 'end')
  })

  t.test('{ url, ...options } passes client options through', async (t) => {
    const app = Fastify()
    const resolved = await resolveRedis(app, { url: server.url, db: 3, connectionName: 'scaleout-test' }, { plugin })
    t.equal(resolved.owned, true)
    await resolved.client.set('in-db-3', '1')
    const direct = server.client({ db: 3 })
    t.teardown(() => direct.disconnect())
    t.equal(await direct.get('in-db-3'), '1')
    t.match(await direct.client('LIST'), /name=scaleout-test/)
    await app.close()
    t.equal(resolved.client.status, 'end')
  })

  t.test('a client passed in stays the caller\'s and stays open', async (t) => {
    const mine = server.client()
    t.teardown(() => mine.disconnect())
    await mine.ping()
    const app = Fastify()
    const resolved = await resolveRedis(app, mine, { plugin })
    t.equal(resolved.client, mine)
    t.equal(resolved.owned, false)
    t.equal(resolved.source, 'option')
    await app.close()
    t.equal(mine.status, 'ready')
    t.equal(await mine.ping(), 'PONG')
  })

  t.test('a duplicate is ours even when the main client is the caller\'s', async (t) => {
    const mine = server.client()
    t.teardown(() => mine.disconnect())
    await mine.ping()
    const app = Fastify()
    const resolved = await resolveRedis(app, mine, { plugin })
    const copy = resolved.duplicate()
    t.not(copy, mine)
    t.equal(isRedisClient(copy), true)
    t.equal(await copy.ping(), 'PONG')
    await app.close()
    t.equal(copy.status, 'end')
    t.equal(mine.status, 'ready')
  })

  // The cache's and broadcast's subscribers are duplicates, and wait for 'ready' before they
  // subscribe: a duplicate of a lazy client stayed in 'wait' for ever, and they heard nothing.
  t.test('a duplicate of a lazyConnect client connects by itself', async (t) => {
    const mine = server.client({ lazyConnect: true })
    t.teardown(() => mine.disconnect())
    const app = Fastify()
    const resolved = await resolveRedis(app, mine, { plugin })
    const copy = resolved.duplicate()
    t.equal(await waitForReady(copy, 5000), true, 'ready without a command sent')
    t.equal(mine.status, 'wait', 'the caller\'s own client stays lazy')
    await app.close()
    t.equal(copy.status, 'end')
  })

  t.test('without an option it uses @fastify/redis, and leaves it to @fastify/redis to close', async (t) => {
    const app = Fastify()
    await app.register(fastifyRedis, { host: server.host, port: server.port })
    let resolved: Awaited<ReturnType<typeof resolveRedis>> | undefined
    await app.register(async (instance) => {
      resolved = await resolveRedis(instance, undefined, { plugin })
    })
    await app.ready()
    t.equal(resolved?.source, '@fastify/redis')
    t.equal(resolved?.owned, false)
    t.equal(resolved?.client, (app as unknown as { redis: unknown }).redis)
    await app.close()
  })

  t.test('without an option or @fastify/redis it uses REDIS_URL', async (t) => {
    const saved = process.env.REDIS_URL
    process.env.REDIS_URL = server.url
    t.teardown(() => {
      if (saved === undefined) delete process.env.REDIS_URL
      else process.env.REDIS_URL = saved
    })
    const app = Fastify()
    const resolved = await resolveRedis(app, undefined, { plugin })
    t.equal(resolved.source, 'REDIS_URL')
    t.equal(resolved.owned, true)
    t.equal(await resolved.client.ping(), 'PONG')
    await app.close()
    t.equal(resolved.client.status, 'end')
  })

  t.test('a decorator named redis that is not a client is ignored', async (t) => {
    const saved = process.env.REDIS_URL
    delete process.env.REDIS_URL
    t.teardown(() => { if (saved !== undefined) process.env.REDIS_URL = saved })
    const app = Fastify()
    app.decorate('redis', { not: 'a client' } as never)
    await t.rejects(resolveRedis(app, undefined, { plugin }), { code: 'SCALEOUT_ERR_REDIS_NOT_CONFIGURED' })
    await app.close()
  })
})

t.test('with nothing configured registration fails with a message that says how to configure Redis', async (t) => {
  const saved = process.env.REDIS_URL
  process.env.REDIS_URL = ''
  t.teardown(() => {
    if (saved === undefined) delete process.env.REDIS_URL
    else process.env.REDIS_URL = saved
  })
  const app = Fastify()
  const err = await resolveRedis(app, undefined, { plugin }).catch((e: unknown) => e) as Error & { code: string, statusCode: number }
  t.equal(err.code, 'SCALEOUT_ERR_REDIS_NOT_CONFIGURED')
  t.equal(err.message, '@scaleout/test needs Redis: pass the `redis` option (a redis:// or rediss:// URL, an ioredis Redis or Cluster, { cluster: [urls] } or { sentinels, name }), register @fastify/redis first, or set REDIS_URL')
  await app.close()
})

t.test('invalid redis options fail with SCALEOUT_ERR_INVALID_OPTION naming the option', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    ['http://localhost:6379', /option `redis` is invalid: expected a redis:\/\/ or rediss:\/\/ URL/],
    [42, /option `redis` is invalid: expected an ioredis Redis or Cluster/],
    [[], /option `redis` is invalid/],
    [{ url: 'localhost' }, /option `redis.url` is invalid/],
    [{ cluster: [] }, /option `redis.cluster` is invalid: expected a non-empty array/],
    [{ cluster: 'redis://a:1' }, /option `redis.cluster` is invalid/],
    [{ cluster: ['not a url'] }, /option `redis.cluster` is invalid: expected node URLs such as redis:\/\/host:6379/],
    [{ cluster: ['http://a:1'] }, /option `redis.cluster` is invalid: expected redis:\/\/ or rediss:\/\/ node URLs \(got http:\)/],
    [{ sentinels: [], name: 'x' }, /option `redis.sentinels` is invalid/],
    [{ sentinels: [{ host: '127.0.0.1', port: 1 }], name: '' }, /option `redis.name` is invalid: expected the Sentinel master name/]
  ]
  for (const [option, message] of cases) {
    const app = Fastify()
    const err = await resolveRedis(app, option as any, { plugin }).catch((e: unknown) => e) as Error & { code: string }
    t.equal(err.code, 'SCALEOUT_ERR_INVALID_OPTION', JSON.stringify(option))
    t.match(err.message, message)
    await app.close()
  }
})

t.test('REDIS_URL that is not a redis URL is rejected', async (t) => {
  const saved = process.env.REDIS_URL
  process.env.REDIS_URL = 'localhost:6379'
  t.teardown(() => {
    if (saved === undefined) delete process.env.REDIS_URL
    else process.env.REDIS_URL = saved
  })
  const app = Fastify()
  await t.rejects(resolveRedis(app, undefined, { plugin }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `REDIS_URL` is invalid/ })
  await app.close()
})

t.test('a server that is not up yet: registration goes on, logs a warning, and the client connects later', async (t) => {
  const server = await RedisServer.start()
  const port = server.port
  await server.kill()
  t.teardown(async () => await server.stop())
  const warnings: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => warnings.push(JSON.parse(line).msg) } } })
  const resolved = await resolveRedis(app, `redis://127.0.0.1:${port}`, { plugin, readyTimeoutMs: 200 })
  t.equal(resolved.client.status === 'ready', false)
  await app.ready()
  // One line for the start-up outage: the failed attempts meanwhile add none.
  t.same(warnings, [`@scaleout/test: Redis at 127.0.0.1:${port} not reachable yet; requests needing it fail fast until it is (one warning for every plugin of the app using it)`])
  // Fails fast (no offline queue) rather than queueing the command.
  await t.rejects(resolved.client.get('x'), /Stream isn't writeable|Connection is closed/)
  await server.restart()
  // The client may reconnect while restart() still waits for the server: only wait if it has not.
  if (resolved.client.status !== 'ready') await new Promise<void>((resolve) => resolved.client.once('ready', () => resolve()))
  t.equal(await resolved.client.ping(), 'PONG')
  await app.close()
  t.equal(resolved.client.status, 'end')
})

t.test('closing while disconnected does not wait on quit', async (t) => {
  const server = await RedisServer.start()
  t.teardown(async () => await server.stop())
  const app = Fastify()
  const resolved = await resolveRedis(app, server.url, { plugin })
  await server.kill()
  await new Promise<void>((resolve) => resolved.client.once('reconnecting', () => resolve()))
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 5000, 'close is bounded')
  // ioredis leaves the status at 'reconnecting' but has cancelled the retry: it never comes back.
  await server.restart()
  await new Promise((resolve) => setTimeout(resolve, 600))
  t.not(resolved.client.status, 'ready')
  t.ok(resolved.client instanceof Redis)
})
