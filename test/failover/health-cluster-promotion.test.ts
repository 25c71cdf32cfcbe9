import t from 'tap'
import health from '@scaleout/health'
import { appFor, RedisClusterHarness, waitUntil } from '../helpers/index.js'

// Regression: the check PINGs each master its Cluster client knows. Those PINGs never get a MOVED,
// so the client never learnt that a replica had replaced a killed master, and kept PINGing the
// dead one: /health/ready stayed 503 for good after a Cluster failover, until a restart.
t.test('Cluster master killed and replaced by its replica: readiness fails, then recovers by itself', async (t) => {
  const cluster = await RedisClusterHarness.start(3, 1)
  t.teardown(async () => await cluster.stop())
  const app = appFor(t)
  await app.register(health, { redis: { cluster: cluster.urls }, redisCheck: { interval: 200, timeout: 500 }, eventLoopDelay: false, signals: false })
  await app.ready()
  await waitUntil('ready with the three masters', async () => (await app.inject('/health/ready')).statusCode === 200 &&
    app.health.report().checks['redis:responseTime']?.length === 3, 10_000)

  const killed = await cluster.killMasterOf('any-key')
  await waitUntil('readiness 503 once the master is gone', async () => (await app.inject('/health/ready')).statusCode === 503, 10_000)
  const promoted = await cluster.waitPromotion(killed)
  await waitUntil('readiness 200 again without a restart', async () => (await app.inject('/health/ready')).statusCode === 200, 15_000)
  const nodes = (app.health.report().checks['redis:responseTime'] ?? []).map((o) => o.componentId).sort()
  t.equal(nodes.length, 3, 'three masters checked')
  t.ok(nodes.includes(`127.0.0.1:${promoted.port}`), 'the promoted replica is one of them')
  t.notOk(nodes.includes(`127.0.0.1:${killed.port}`), 'the dead master is not')
})
