import t from 'tap'
import cache from '@scaleout/cache'
import { appFor, logSink, redisFor, waitUntil } from '../helpers/index.js'

// The lease a wrap() took is released after the value is stored; when Redis goes away in between,
// the value is still returned and the lease is left to expire on its own (logged, never thrown).
t.test('a lease release that fails is logged and the computed value is still returned', async (t) => {
  const server = await redisFor(t)
  const sink = logSink('debug')
  const app = appFor(t, { logger: sink.logger })
  await app.register(cache, { redis: server.url, timeout: 300, heartbeatInterval: false, l1: false })
  await app.ready()

  const value = await app.cache.wrap('k', async () => {
    await server.kill()
    return 7
  })
  t.equal(value, 7)
  // The release runs after wrap() answered: wait for its outcome.
  await waitUntil('the failed release logged', () => sink.messages().includes('@scaleout/cache: lease release failed; it expires on its own'), 5000)
  t.pass('the failed release is logged')
})
