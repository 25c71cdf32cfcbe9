import t from 'tap'
import health from '@scaleout/health'
import { appFor, rawCommand, RedisClusterHarness, waitUntil } from '../helpers/index.js'

// A Cluster master that froze (SIGSTOP: its link open, nothing answered) held the Redis check's
// PING for good: the runner reported the check stuck ("previous run still pending") and never ran
// it again, so the slot map was never refreshed, and with a Cluster client of the app's own (no
// slotsRefreshInterval, no commandTimeout) readiness failed for good, long after the master's
// replica had taken over. A frozen master's PING is now bounded by the check's timeout and not sent
// again while unanswered, and the slot map is refreshed on every failing run, so the check follows
// the promoted replica.

t.test('a frozen Cluster master: readiness fails, then passes again once its replica is promoted, while the master stays frozen', async (t) => {
  const cluster = await RedisClusterHarness.start(3, 1)
  t.teardown(async () => {
    for (const node of cluster.nodes) node.resume()
    await cluster.stop()
  })
  await cluster.waitHealthy()
  // The app's own client, as ioredis makes it by default (registration warns about the slot map).
  const client = cluster.client()
  client.on('error', () => undefined)
  t.teardown(() => client.disconnect())
  await client.set('warm', '1')
  const app = appFor(t)
  await app.register(health, { signals: false, eventLoopDelay: false, redis: client, redisCheck: { interval: 200, timeout: 300 } })
  await app.ready()
  t.equal((await app.inject('/health/ready')).statusCode, 200)

  // A master other than the node topology() asks (a frozen node answers nothing).
  const line = (await cluster.topology()).find((l) => l.role === 'master' && l.port !== cluster.nodes[0]?.port)
  const frozen = cluster.nodes.find((n) => n.port === line?.port)
  const witness = cluster.nodes[0]
  if (frozen === undefined || witness === undefined) throw new Error('no master to freeze')
  frozen.pause()
  await waitUntil('readiness 503', async () => (await app.inject('/health/ready')).statusCode === 503, 10_000)
  // Its PING is not sent again while unanswered; the other masters still answer theirs.
  await waitUntil('the frozen master reported unanswered', () => {
    const observations = app.health.report().checks['redis:responseTime'] ?? []
    return observations.some((o) => o.componentId === `127.0.0.1:${frozen.port}` && /^PING unanswered for \d+ms; not sent again$/.test(String(o.output)))
  }, 10_000)
  const during = app.health.report().checks['redis:responseTime'] ?? []
  t.equal(during.length, 3)
  t.same(during.filter((o) => o.status === 'pass').length, 2, 'the other masters pass')

  await waitUntil('the replica promoted', async () => {
    const nodes = await rawCommand(witness.port, 'CLUSTER NODES')
    const entry = nodes.split('\n').find((l) => l.includes(`:${frozen.port}@`)) ?? ''
    return /\bfail\b/.test(entry) && (await rawCommand(witness.port, 'CLUSTER INFO')).includes('cluster_state:ok')
  }, 30_000, 100)
  await waitUntil('readiness 200 again, the master still frozen', async () => (await app.inject('/health/ready')).statusCode === 200, 15_000)
  const after = app.health.report().checks['redis:responseTime'] ?? []
  t.equal(after.length, 3, 'three masters')
  t.ok(after.every((o) => o.status === 'pass'), 'all pass')
  t.notOk(after.some((o) => o.componentId === `127.0.0.1:${frozen.port}`), 'the frozen master is no longer pinged')
})
