import t, { type Test } from 'tap'
import Fastify from 'fastify'
import health, { DEFAULT_PATHS, type HealthOptions } from '@scaleout/health'

async function rejects (t: Test, options: unknown, option: string, expected: RegExp): Promise<void> {
  const app = Fastify()
  t.teardown(async () => await app.close())
  await t.rejects(async () => {
    await app.register(health, options as HealthOptions)
    await app.ready()
  }, {
    code: 'SCALEOUT_ERR_INVALID_OPTION',
    message: new RegExp(`^@scaleout/health: option \`${option.replace(/[.[\]]/g, '\\$&')}\` is invalid: expected ${expected.source}`)
  }, `${option}: ${JSON.stringify(options)}`)
}

t.test('every bad option fails registration with a coded error naming it', async (t) => {
  const cases: Array<[unknown, string, RegExp]> = [
    [{ drainDelay: 5 }, 'drainDelay', /a known option/],
    [{ paths: 'x' }, 'paths', /an object of route paths/],
    [{ paths: { metrics: '/m' } }, 'paths.metrics', /one of live, ready, startup, details/],
    [{ paths: { live: 'health' } }, 'paths.live', /false or a path starting with "\/"/],
    [{ paths: { ready: '/r?x=1' } }, 'paths.ready', /false or a path/],
    [{ paths: { live: '/health' } }, 'paths', /a different path for each route/],
    [{ logLevel: 'loud' }, 'logLevel', /one of fatal, error, warn, info, debug, trace, silent/],
    [{ checks: [] }, 'checks', /an object of checks by name/],
    [{ checks: { 'bad:name': () => true } }, 'checks.bad:name', /a name of 1 to 64/],
    [{ checks: { db: 'SELECT 1' } }, 'checks.db', /a check function or/],
    [{ checks: { db: { critical: true } } }, 'checks.db.check', /a function/],
    [{ checks: { db: { check: () => true, critical: 'yes' } } }, 'checks.db.critical', /a boolean/],
    [{ checks: { db: { check: () => true, timeoutMs: 0 } } }, 'checks.db.timeoutMs', /a duration from 1ms/],
    [{ checks: { db: { check: () => true, timeoutMs: 'soon' } } }, 'checks.db.timeoutMs', /a duration/],
    [{ checks: { db: { check: () => true, intervalMs: 5 } } }, 'checks.db.intervalMs', /a duration from 10ms/],
    [{ checks: { db: { check: () => true, measurement: 'a:b' } } }, 'checks.db.measurement', /a name/],
    [{ redisCheck: 'fast' }, 'redisCheck', /an object of check options/],
    [{ redis: null }, 'redis', /an ioredis Redis or Cluster/],
    [{ eventLoopDelay: 5 }, 'eventLoopDelay', /false, true or an object of thresholds/],
    [{ eventLoopDelay: { warnMs: -1 } }, 'eventLoopDelay.warnMs', /a number above 0 and at most 60000/],
    [{ eventLoopDelay: { warnMs: 500, failMs: 100 } }, 'eventLoopDelay.failMs', /a threshold at least eventLoopDelay.warnMs \(500\)/],
    [{ heap: { failPercent: 101 } }, 'heap.failPercent', /a number above 0 and at most 100/],
    [{ heap: { warnPercent: 'high' } }, 'heap.warnPercent', /a number above 0/],
    [{ exposeDetails: 'yes' }, 'exposeDetails', /a boolean/],
    [{ detailsAllowList: '10.0.0.0/8' }, 'detailsAllowList', /an array of IP addresses or CIDR ranges/],
    [{ detailsAllowList: [10] }, 'detailsAllowList', /an array of IP/],
    [{ detailsAllowList: ['localhost'] }, 'detailsAllowList', /.*\(got "localhost"\)/],
    [{ detailsAllowList: ['10.0.0.0/33'] }, 'detailsAllowList', /.*\(got "10.0.0.0\/33"\)/],
    [{ detailsAllowList: ['fd00::/129'] }, 'detailsAllowList', /.*\(got "fd00::\/129"\)/],
    [{ detailsAllowList: ['10.0.0.0/8/1'] }, 'detailsAllowList', /.*got/],
    [{ detailsAllowList: ['10.0.0.0/x'] }, 'detailsAllowList', /.*got/],
    [{ detailsAllowList: ['0.0.0.0/0'] }, 'detailsAllowList', /.*\(got "0.0.0.0\/0"\)/],
    [{ detailsAllowList: ['loopback', 'everyone'] }, 'detailsAllowList', /.*presets "loopback", "private", "linklocal", "uniquelocal" \(got "everyone"\)/],
    [{ instanceHeader: 'x served by' }, 'instanceHeader', /a boolean or an HTTP header name/],
    [{ logInstance: 1 }, 'logInstance', /a boolean/],
    [{ signals: 'SIGTERM' }, 'signals', /false or an array of signal names/],
    [{ signals: ['SIGNOPE'] }, 'signals', /false or an array/],
    [{ signals: ['SIGKILL'] }, 'signals', /false or an array/],
    [{ drainDelayMs: -5 }, 'drainDelayMs', /a duration/],
    [{ drainDelayMs: 2 ** 31 }, 'drainDelayMs', /a duration from 0ms to 2147483647ms/],
    [{ drainDelayMs: '20s', drainDeadlineMs: '10s' }, 'drainDeadlineMs', /a duration longer than drainDelayMs \(20000ms\)/],
    [{ exit: 0 }, 'exit', /a function/],
    [{ version: '' }, 'version', /a non-empty string/]
  ]
  for (const [options, option, expected] of cases) await rejects(t, options, option, expected)
})

t.test('options that are not an object are refused', async (t) => {
  await rejects(t, [], 'options', /an object/)
})

t.test('defaults: the documented paths, signal listeners added at ready and removed at close', async (t) => {
  t.same(DEFAULT_PATHS, { live: '/health/live', ready: '/health/ready', startup: '/health/startup', details: '/health' })
  const before = { term: process.listenerCount('SIGTERM'), int: process.listenerCount('SIGINT') }
  const app = Fastify()
  await app.register(health)
  t.equal(process.listenerCount('SIGTERM'), before.term, 'nothing is installed before the server is ready')
  await app.ready()
  t.equal(process.listenerCount('SIGTERM'), before.term + 1)
  t.equal(process.listenerCount('SIGINT'), before.int + 1)
  for (const url of Object.values(DEFAULT_PATHS)) {
    for (const method of ['GET', 'HEAD'] as const) t.ok(app.hasRoute({ method, url }), `${method} ${url}`)
  }
  t.same(Object.keys(app.health.report().checks), ['eventLoop:delay'], 'the event-loop check is on by default, heap is off')
  await app.close()
  t.equal(process.listenerCount('SIGTERM'), before.term, 'removed on close')
  t.equal(process.listenerCount('SIGINT'), before.int)
})

t.test('durations accept strings, signals de-duplicate, fastify register keys pass', async (t) => {
  const before = process.listenerCount('SIGUSR2')
  const app = Fastify()
  t.teardown(async () => await app.close())
  await app.register(health, { prefix: '/ignored', drainDelayMs: '30s', signals: ['SIGUSR2', 'SIGUSR2'], heap: true, eventLoopDelay: { failMs: 5000 }, checks: { db: { check: () => true, timeoutMs: '2s', intervalMs: '1m' } } })
  await app.ready()
  t.equal(process.listenerCount('SIGUSR2'), before + 1)
  t.same(Object.keys(app.health.report().checks).sort(), ['db:responseTime', 'eventLoop:delay', 'heap:utilization'])
})
