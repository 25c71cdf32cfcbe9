import t from 'tap'
import { Cluster } from 'ioredis'
import health, { redisCheck } from '@scaleout/health'
import { adminFor, appFor, FreezingProxy, redisFor, RedisClusterHarness, type RedisServer, waitUntil } from '../helpers/index.js'
import { build } from './fixtures/app.js'

const ROUTES = ['/health/live', '/health/ready', '/health/startup', '/health', '/health/ready?probe=1']

async function connectedClients (server: RedisServer): Promise<number> {
  const admin = server.client()
  try {
    return Number(/connected_clients:(\d+)/.exec(await admin.info('clients'))?.[1])
  } finally {
    admin.disconnect()
  }
}

t.test('probes cause zero Redis commands; the background run is the only PING', async (t) => {
  const server = await redisFor(t)
  const { app } = await build(t, { redis: server.url, redisCheck: { interval: 60_000 } })
  await app.ready()

  const probes = await server.countCommands(async () => {
    const codes: number[] = []
    for (let i = 0; i < 40; i++) {
      for (const url of ROUTES) codes.push((await app.inject(url)).statusCode)
      codes.push((await app.inject({ method: 'HEAD', url: '/health/ready' })).statusCode)
    }
    return codes
  })
  t.equal(probes.result.length, 240)
  t.ok(probes.result.every((code) => code === 200), 'every probe answered 200')
  t.same(probes.commands, {}, 'no command reached Redis')
  t.equal(probes.total, 0)

  const refresh = await server.countCommands(async () => await app.health.refresh())
  t.same(refresh.commands, { ping: 1 }, 'a check run is one PING (so the counter above could see one)')
  t.match(refresh.result.checks['redis:responseTime'], [{ status: 'pass', componentType: 'datastore', observedUnit: 'ms' }])
  t.equal(refresh.result.checks['redis:responseTime']?.length, 1)
  t.type(refresh.result.checks['redis:responseTime']?.[0]?.observedValue, 'number')
})

t.test('Redis paused: liveness stays 200, readiness goes 503 within a check interval, then recovers', async (t) => {
  const server = await redisFor(t)
  const { app } = await build(t, { redis: server.url, redisCheck: { interval: 200, timeout: 150 } })
  await app.ready()
  t.equal((await app.inject('/health/ready')).statusCode, 200)

  server.pause()
  const liveCodes: number[] = []
  await waitUntil('readiness 503 while Redis is paused', async () => {
    liveCodes.push((await app.inject('/health/live')).statusCode)
    return (await app.inject('/health/ready')).statusCode === 503
  }, 15_000)
  t.same(await (await app.inject('/health/ready')).json(), { status: 'fail' })
  t.match(app.health.report().checks['redis:responseTime'], [{ status: 'fail', output: /timed out after 150ms|still pending|Command timed out/ }])
  for (let i = 0; i < 5; i++) liveCodes.push((await app.inject('/health/live')).statusCode)
  t.ok(liveCodes.length >= 6 && liveCodes.every((c) => c === 200), `liveness answered 200 throughout (${liveCodes.length} probes)`)
  t.equal((await app.inject('/health/startup')).statusCode, 200, 'startup stays passed')

  server.resume()
  await waitUntil('readiness 200 after Redis resumes', async () => (await app.inject('/health/ready')).statusCode === 200, 15_000)
  t.match(app.health.report().checks['redis:responseTime'], [{ status: 'pass' }])
})

t.test('a client the caller owns: used as is, PINGs bounded while paused, never quit', async (t) => {
  const server = await redisFor(t)
  const mine = adminFor(t, server)
  await mine.ping()
  const { app } = await build(t, { redis: mine, redisCheck: { interval: 60_000, timeout: 100, critical: false } })
  await app.ready()
  // The check's first PING has 100 ms, which a loaded machine can exceed once: wait for a pass
  // rather than assert the first run's timing.
  await waitUntil('the check passes on the caller\'s client', async () => {
    if (app.health.report().status === 'pass') return true
    await app.health.refresh()
    return app.health.report().status === 'pass'
  }, 15_000)
  t.equal(app.health.report().status, 'pass')

  server.pause()
  await app.health.refresh()
  t.match(app.health.report().checks['redis:responseTime'], [{ status: 'fail', output: 'check timed out after 100ms' }])
  t.equal((await app.inject('/health/ready')).json().status, 'warn', 'not critical here: warn, 200')
  await app.health.refresh()
  t.match(app.health.report().checks['redis:responseTime'], [{ status: 'fail', output: /^previous run still pending/ }])
  server.resume()
  await waitUntil('the hung PING settles and the check passes again', async () => {
    await app.health.refresh()
    return app.health.report().checks['redis:responseTime']?.[0]?.status === 'pass'
  }, 15_000)

  await app.close()
  t.equal(mine.status, 'ready', 'the caller\'s client is still connected after close')
  t.equal(await mine.ping(), 'PONG')
})

t.test('a client made from a URL is the plugin\'s: quit on close', async (t) => {
  const server = await redisFor(t)
  const before = await connectedClients(server)
  const { app } = await build(t, { redis: { url: server.url }, redisCheck: { interval: 60_000 } })
  await app.ready()
  t.equal(await connectedClients(server), before + 1)
  await app.close()
  await waitUntil('the health connection is gone', async () => await connectedClients(server) === before, 10_000)
  t.pass('closed')
})

t.test('Redis killed: the owned client fails the PING fast, and the check passes again after a restart', async (t) => {
  const server = await redisFor(t)
  const { app } = await build(t, { redis: server.url, redisCheck: { interval: 60_000, timeout: 5000 } })
  await app.ready()
  await server.kill()
  await app.health.refresh()
  const [observation] = app.health.report().checks['redis:responseTime'] ?? []
  t.equal(observation?.status, 'fail')
  t.ok(typeof observation?.output === 'string' && observation.output.length > 0, `explains why: ${String(observation?.output)}`)
  t.ok((observation?.observedValue as number) < 5000, 'failed before the 5s timeout: no offline queue')
  t.equal((await app.inject('/health/ready')).statusCode, 503)
  await server.restart()
  await waitUntil('the check passes after the restart', async () => {
    await app.health.refresh()
    return (await app.inject('/health/ready')).statusCode === 200
  }, 15_000)
  t.pass('recovered')
})

t.test('redisCheck() with addCheck and a Redis Cluster: one observation per master, probes send nothing', async (t) => {
  const cluster = await RedisClusterHarness.start()
  t.teardown(async () => await cluster.stop())
  const client = cluster.client()
  t.teardown(() => client.disconnect())
  await client.set('warm', '1')
  const app = appFor(t)
  await app.register(health, { signals: false, eventLoopDelay: false })
  const { check, ...options } = redisCheck(client, { interval: 60_000 })
  app.after(() => app.health.addCheck('cache', check, options))
  await app.ready()
  const observations = app.health.report().checks['cache:responseTime'] ?? []
  t.equal(observations.length, 3)
  t.same(observations.map((o) => o.componentId).sort(), cluster.nodes.map((n) => `${n.host}:${n.port}`).sort())
  t.ok(observations.every((o) => o.status === 'pass' && o.componentType === 'datastore' && o.observedUnit === 'ms'))

  const probes = await cluster.countCommands(async () => {
    for (let i = 0; i < 30; i++) for (const url of ROUTES) await app.inject(url)
  })
  t.equal(probes.total, 0)
  const run = await cluster.countCommands(async () => await app.health.refresh())
  t.same(run.commands, { ping: 3 }, 'one PING per master')
})

t.test('the plugin\'s own Cluster from { cluster: urls }', async (t) => {
  const cluster = await RedisClusterHarness.start()
  t.teardown(async () => await cluster.stop())
  const { app } = await build(t, { redis: { cluster: cluster.urls }, redisCheck: { interval: 60_000 } })
  await app.ready()
  await waitUntil('every master pinged', async () => (await app.health.refresh()).checks['redis:responseTime']?.length === 3, 15_000)
  t.equal(app.health.report().status, 'pass')
})

t.test('a Cluster with no known master fails the check and says so', async (t) => {
  const lazy = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true })
  const { app } = await build(t, { checks: { cluster: { ...redisCheck(lazy), interval: 60_000 } } })
  await app.ready()
  t.match(app.health.report().checks['cluster:responseTime'], [{ status: 'fail', output: 'no Redis Cluster master is known (cluster status: wait)' }])
})

// The plugin's own client on a link that goes silent (frozen both ways, new connections refused).
t.test('readiness on a frozen Redis link: fails, then recovers without a restart', async (t) => {
  const server = await redisFor(t)
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const { app } = await build(t, { redis: proxy.url, redisCheck: { interval: 200, timeout: 150 } })
  await app.ready()
  t.equal((await app.inject('/health/ready')).statusCode, 200)
  proxy.refuseNew()
  t.equal(proxy.freezeAll(), 1)
  await waitUntil('readiness 503 on the frozen link', async () => (await app.inject('/health/ready')).statusCode === 503, 15_000)
  proxy.acceptNew()
  await waitUntil('readiness 200 again', async () => (await app.inject('/health/ready')).statusCode === 200, 20_000)
  t.match(app.health.report().checks['redis:responseTime'], [{ status: 'pass' }])
})
