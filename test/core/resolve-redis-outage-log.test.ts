import t from 'tap'
import { resolveRedis } from '@scaleout/core'
import { appFor, logSink, redisFor, waitUntil } from '../helpers/index.js'

// Regression: with Redis down, every reconnect attempt of every created client logged a warning
// (44 lines for one start-up). Now: one per client per outage.
const WARNING = '@scaleout/test: Redis connection error'

t.test('a created client warns once per outage, however many reconnect attempts fail', async (t) => {
  const server = await redisFor(t)
  await server.kill()
  const sink = logSink('warn')
  const app = appFor(t, { logger: sink.logger })
  const { client } = await resolveRedis(app, server.url, { plugin: '@scaleout/test', readyTimeoutMs: 100 })
  let errors = 0
  client.on('error', () => { errors++ })
  await waitUntil('three more failed attempts', () => errors >= 3)
  await app.ready()
  // Down at start-up: that outage's one line is start-up's.
  const NOT_REACHABLE = `@scaleout/test: Redis at 127.0.0.1:${server.port} not reachable yet; requests needing it fail fast until it is (one warning for every plugin of the app using it)`
  t.same(sink.messages(40), [NOT_REACHABLE])

  await server.restart()
  if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve))
  await server.kill()
  const before = errors
  await waitUntil('the link fails again', () => errors >= before + 2)
  t.same(sink.messages(40), [NOT_REACHABLE, WARNING], 'a new outage warns again')
})
