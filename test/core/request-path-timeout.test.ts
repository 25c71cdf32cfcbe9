import t from 'tap'
import Fastify from 'fastify'
import { bounded, resolveRedis } from '@scaleout/core'
import { RedisServer } from '../helpers/index.js'

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
