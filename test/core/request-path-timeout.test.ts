import t from 'tap'
import Fastify from 'fastify'
import type { Cluster, Redis } from 'ioredis'
import broadcast from '@scaleout/broadcast'
import { bounded, boundFor, resolveRedis } from '@scaleout/core'
import { RedisServer, appFor, redisFor } from '../helpers/index.js'

// The promise of the defaults: while Redis hangs, a request fails within the command timeout with a
// coded error instead of hanging, and works again as soon as Redis answers, with no restart.
t.test('a paused Redis fails a request-path call within the timeout, then it succeeds once resumed', async (t) => {
  const server = await RedisServer.start()
  t.teardown(async () => await server.stop())
  const app = Fastify()
  const resolved = await resolveRedis(app, { url: server.url, commandTimeout: 300 }, { plugin: '@scaleout/test' })
  app.get('/value', async () => {
    return { value: await bounded(resolved.client.get('answer'), 2000) }
  })
  t.teardown(async () => await app.close())
  await resolved.client.set('answer', '42')

  t.same((await app.inject('/value')).json(), { value: '42' })

  server.pause()
  const started = Date.now()
  const res = await app.inject('/value')
  const elapsed = Date.now() - started
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'SCALEOUT_ERR_REDIS_TIMEOUT')
  t.equal(res.json().message, 'Redis did not answer within 2000ms')
  t.ok(elapsed >= 250 && elapsed < 1500, `failed after ${elapsed}ms: the 300ms command timeout, not the 2000ms bound`)

  server.resume()
  t.same((await app.inject('/value')).json(), { value: '42' })
})

t.test('bounded() caps a client that has no command timeout of its own', async (t) => {
  const server = await RedisServer.start()
  t.teardown(async () => await server.stop())
  const mine = server.client()
  t.teardown(() => mine.disconnect())
  await mine.set('k', 'v')
  server.pause()
  const started = Date.now()
  await t.rejects(bounded(mine.get('k'), 200), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', statusCode: 503, message: 'Redis did not answer within 200ms' })
  const elapsed = Date.now() - started
  t.ok(elapsed >= 190 && elapsed < 1000, `rejected after ${elapsed}ms`)
  server.resume()
  t.equal(await bounded(mine.get('k'), 200), 'v')
})

// boundFor: a standalone client whose own command timeout is within the bound needs no extra timer,
// whoever created it; any other client gets bounded(). Either way a hang becomes the same coded error.
t.test('boundFor() relies on a client\'s own command timeout only when it is within the bound, whoever made the client', async (t) => {
  const server = await redisFor(t)
  const app = appFor(t)
  const ours = await resolveRedis(app, { url: server.url, commandTimeout: 300 }, { plugin: '@scaleout/test' })
  const slowTimeout = await resolveRedis(app, { url: server.url, commandTimeout: 5000 }, { plugin: '@scaleout/test' })
  const callers = server.client({ commandTimeout: 300 })
  t.teardown(() => callers.disconnect())
  const plain = server.client()
  t.teardown(() => plain.disconnect())
  // Seen as a client of another copy of ioredis: its options are not ours to read.
  const foreign = new Proxy(callers, { getPrototypeOf: () => Object.prototype })
  await callers.set('k', 'v')
  await Promise.all([slowTimeout.client.ping(), plain.ping()])
  t.equal(await boundFor(ours.client, ours.owned, 2000)(ours.client.get('k')), 'v')
  t.equal(await boundFor(callers, false, 2000)(callers.get('k')), 'v')

  server.pause()
  t.teardown(() => server.resume())
  const timeout = (ms: number): { code: string, message: string } => ({ code: 'SCALEOUT_ERR_REDIS_TIMEOUT', message: `Redis did not answer within ${ms}ms` })
  await t.rejects(boundFor(ours.client, ours.owned, 2000)(ours.client.get('k')), timeout(300), 'our client: its own timeout, no extra timer')
  await t.rejects(boundFor(callers, false, 2000)(callers.get('k')), timeout(300), 'a caller\'s client with a timeout: the same')
  await t.rejects(boundFor(slowTimeout.client, slowTimeout.owned, 200)(slowTimeout.client.get('k')), timeout(200), 'our client with a longer timeout: bounded()')
  await t.rejects(boundFor(plain, false, 200)(plain.get('k')), timeout(200), 'a caller\'s client with no timeout: bounded()')
  await t.rejects(boundFor(foreign, false, 2000)(foreign.get('k')), timeout(2000), 'another ioredis copy\'s client: bounded()')
  server.resume()
  await t.rejects(boundFor(callers, false, 2000)(callers.hget('k', 'f')), { code: 'SCALEOUT_ERR_REDIS_REPLY', message: 'Redis refused the command (WRONGTYPE)' }, 'command errors are coded too')
})

// A created client gave up after its 1 s commandTimeout whatever the plugin's timeout said: a
// broadcast `timeout: '5s'` failed publishes after 1 s.
t.test('a plugin timeout over 1 s becomes the created client\'s command timeout, unless the user set one', async (t) => {
  const server = await RedisServer.start()
  t.teardown(async () => await server.stop())
  const app = appFor(t)
  const timeoutOf = async (option: Parameters<typeof resolveRedis>[1], timeout: number | undefined): Promise<unknown> => {
    const { client } = await resolveRedis(app, option, { plugin: '@scaleout/test', readyTimeoutMs: 50, ...(timeout === undefined ? {} : { timeout }) })
    return 'startupNodes' in client ? (client as Cluster).options.redisOptions?.commandTimeout : (client as Redis).options.commandTimeout
  }
  t.equal(await timeoutOf(server.url, 3000), 3000)
  t.equal(await timeoutOf(server.url, 200), 1000, 'a shorter one leaves the default: the plugin bounds its calls itself')
  t.equal(await timeoutOf(server.url, undefined), 1000)
  t.equal(await timeoutOf({ url: server.url, commandTimeout: 500 }, 3000), 500, 'the user\'s own setting wins')
  t.equal(await timeoutOf({ cluster: ['redis://127.0.0.1:1'], clusterRetryStrategy: () => null }, 3000), 3000, 'a Cluster\'s nodes get it')
  t.equal(await timeoutOf({ cluster: ['redis://127.0.0.1:1'], clusterRetryStrategy: () => null, redisOptions: { commandTimeout: 700 } }, 3000), 700)

  const broadcasting = appFor(t)
  await broadcasting.register(broadcast, { redis: server.url, timeout: '3s', heartbeatInterval: false })
  await broadcasting.ready()
  server.pause()
  const result = await broadcasting.broadcast.publish('news', 'while paused')
  server.resume()
  t.match(result, { remote: false, error: { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', message: 'Redis did not answer within 3000ms' } })
})
