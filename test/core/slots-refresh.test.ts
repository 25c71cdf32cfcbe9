import t, { type Test } from 'tap'
import Fastify from 'fastify'
import { Cluster } from 'ioredis'
import { resolveRedis } from '@scaleout/core'
import { logSink } from '../helpers/index.js'

// Nothing listens on port 1: what is checked is registration, which does not wait for a client the
// app passes.
function passedCluster (t: Test, options: ConstructorParameters<typeof Cluster>[1] = {}): Cluster {
  const client = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true, clusterRetryStrategy: () => null, ...options })
  client.on('error', () => undefined)
  t.teardown(() => { client.disconnect() })
  return client
}

const WARNING = 'this Redis Cluster client never rereads its slot map on a timer (slotsRefreshInterval is not set; ioredis 6.1 turned that off by default), so calls for a master\'s slots can go on failing after it fails over; give the client slotsRefreshInterval: 5000, as the plugins\' own Cluster clients have'

t.test('a Cluster client the app passes without slotsRefreshInterval: one warning per client, whichever plugins share it', async (t) => {
  const sink = logSink('warn')
  const app = Fastify({ logger: sink.logger })
  t.teardown(async () => await app.close())
  const client = passedCluster(t, { slotsRefreshInterval: undefined })
  const other = passedCluster(t, { slotsRefreshInterval: 0 })
  await resolveRedis(app, client, { plugin: '@scaleout/a' })
  await resolveRedis(app, client, { plugin: '@scaleout/b' })
  await resolveRedis(app, other, { plugin: '@scaleout/b' })
  t.same(sink.messages(), [`@scaleout/a: ${WARNING}`, `@scaleout/b: ${WARNING}`])
  t.same(sink.lines.map((l) => [l.level, (l as unknown as { plugin: string }).plugin]), [[40, '@scaleout/a'], [40, '@scaleout/b']])
})

t.test('no warning for a passed Cluster client that rereads its slot map, nor for the Cluster clients the plugins create, which do every 5 s', async (t) => {
  const sink = logSink('warn')
  const app = Fastify({ logger: sink.logger })
  t.teardown(async () => await app.close())
  await resolveRedis(app, passedCluster(t, { slotsRefreshInterval: 5000 }), { plugin: '@scaleout/a' })
  const created = await resolveRedis(app, { cluster: ['redis://127.0.0.1:1'], clusterRetryStrategy: () => null }, { plugin: '@scaleout/a', readyTimeoutMs: 50 })
  t.equal((created.client as Cluster).options.slotsRefreshInterval, 5000)
  t.same(sink.messages().filter((m) => m.includes('slot map')), [])
})
