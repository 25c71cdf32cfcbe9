import t, { type Test } from 'tap'
import health, { DEFAULT_PATHS, type HealthOptions } from '@scaleout/health'
import { appFor } from '../helpers/index.js'

async function rejects (t: Test, options: unknown, option: string, expected: RegExp): Promise<void> {
  const app = appFor(t)
  await t.rejects(async () => {
    await app.register(health, options as HealthOptions)
    await app.ready()
  }, {
    code: 'SCALEOUT_ERR_INVALID_OPTION',
    message: new RegExp(`^@scaleout/health: option \`${option.replace(/[.[\]]/g, '\\$&')}\` is invalid: expected ${expected.source}`)
  }, `${option}: ${JSON.stringify(options)}`)
}

const DURATION = 'a number of milliseconds or a string such as "500ms", "30s", "15m", "24h"'

t.test('every bad option fails registration with a coded error naming it', async (t) => {
  const cases: Array<[unknown, string, RegExp]> = [
    [{ drainDelya: 5 }, 'drainDelya', /no such option: did you mean `drainDelay`\? the options are paths, prefix, logLevel, checks, redis, redisCheck, eventLoopDelay, heap, exposeDetails, detailsAllowList, instanceHeader, logInstance, signals, drainDelay, drainDeadline, exit, version$/],
    [{ logSerializers: {} }, 'logSerializers', /no such option: `logSerializers` is a Fastify register option, which Fastify ignores for plugins wrapped in fastify-plugin such as this one$/],
    [{ prefix: 'api' }, 'prefix', /a path starting with "\/" \(no query string\)$/],
    [{ prefix: '/api?x=1' }, 'prefix', /a path starting with "\/"/],
    [{ paths: 'x' }, 'paths', /an object of route paths/],
    [{ paths: { metrics: '/m' } }, 'paths.metrics', /no such option: the options are live, ready, startup, details$/],
    [{ paths: { raedy: '/r' } }, 'paths.raedy', /no such option: did you mean `ready`\?/],
    [{ paths: { live: 'health' } }, 'paths.live', /false or a path starting with "\/"/],
    [{ paths: { ready: '/r?x=1' } }, 'paths.ready', /false or a path/],
    [{ paths: { live: '/health' } }, 'paths', /a different path for each route/],
    [{ logLevel: 'loud' }, 'logLevel', /one of fatal, error, warn, info, debug, trace, silent/],
    [{ checks: [] }, 'checks', /an object of checks by name/],
    [{ checks: { 'bad:name': () => true } }, 'checks.bad:name', /a name of 1 to 64/],
    [{ checks: { db: 'SELECT 1' } }, 'checks.db', /a check function or/],
    [{ checks: { db: { critical: true } } }, 'checks.db.check', /a function/],
    [{ checks: { db: { check: () => true, critical: 'yes' } } }, 'checks.db.critical', /a boolean/],
    [{ checks: { db: { check: () => true, timeout: 0 } } }, 'checks.db.timeout', new RegExp(`a duration from 1ms to 1d: ${DURATION}$`)],
    [{ checks: { db: { check: () => true, timeout: '25h' } } }, 'checks.db.timeout', /a duration from 1ms to 1d/],
    [{ checks: { db: { check: () => true, timout: 50 } } }, 'checks.db.timout', /no such option: did you mean `timeout`\? the options are critical, timeout, interval, measurement$/],
    [{ checks: { db: { check: () => true, timeout: 'soon' } } }, 'checks.db.timeout', /a duration/],
    [{ checks: { db: { check: () => true, interval: 5 } } }, 'checks.db.interval', /a duration from 10ms to 1d/],
    [{ checks: { db: { check: () => true, measurement: 'a:b' } } }, 'checks.db.measurement', /a name/],
    [{ redisCheck: 'fast' }, 'redisCheck', /an object of check options/],
    [{ redisCheck: { critcal: false } }, 'redisCheck.critcal', /no such option: did you mean `critical`\?/],
    [{ redis: null }, 'redis', /an ioredis Redis or Cluster/],
    [{ eventLoopDelay: 5 }, 'eventLoopDelay', /false, true or an object of thresholds/],
    [{ eventLoopDelay: { warn: -1 } }, 'eventLoopDelay.warn', new RegExp(`a duration from 1ms to 1m: ${DURATION}$`)],
    [{ eventLoopDelay: { fail: '2m' } }, 'eventLoopDelay.fail', /a duration from 1ms to 1m/],
    [{ eventLoopDelay: { warn: 500, fail: 100 } }, 'eventLoopDelay.fail', /a threshold at least eventLoopDelay.warn \(500ms\)$/],
    [{ eventLoopDelay: { interval: '5ms' } }, 'eventLoopDelay.interval', /a duration from 10ms to 1d/],
    [{ eventLoopDelay: { failAt: 5 } }, 'eventLoopDelay.failAt', /no such option: did you mean `fail`\? the options are warn, fail, interval$/],
    [{ heap: { failPercent: 101 } }, 'heap.failPercent', /a number above 0 and at most 100/],
    [{ heap: { warnPercent: 'high' } }, 'heap.warnPercent', /a number above 0/],
    [{ heap: { warnPercent: 90, failPercent: 80 } }, 'heap.failPercent', /a threshold at least heap.warnPercent \(90%\)$/],
    [{ heap: { warnPercnt: 90 } }, 'heap.warnPercnt', /no such option: did you mean `warnPercent`\? the options are warnPercent, failPercent, interval$/],
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
    [{ instanceHeader: 'Transfer-Encoding' }, 'instanceHeader', /a header name of your own such as "x-instance-id", not transfer-encoding: a standard header that clients, proxies or caches act on/],
    [{ instanceHeader: 'cache-control' }, 'instanceHeader', /a header name of your own such as "x-instance-id", not cache-control: /],
    [{ logInstance: 1 }, 'logInstance', /a boolean/],
    [{ signals: 'SIGTERM' }, 'signals', /false or an array of signal names/],
    [{ signals: ['SIGNOPE'] }, 'signals', /false or an array/],
    [{ signals: ['SIGKILL'] }, 'signals', /false or an array/],
    [{ drainDelay: -5 }, 'drainDelay', new RegExp(`a duration from 0ms to 1h: ${DURATION}$`)],
    [{ drainDelay: '61m' }, 'drainDelay', /a duration from 0ms to 1h/],
    [{ drainDeadline: 0 }, 'drainDeadline', /a duration from 1ms to 1d/],
    [{ drainDelay: '20s', drainDeadline: '10s' }, 'drainDeadline', /a duration longer than drainDelay \(20000ms\)$/],
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
  const app = appFor(t)
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

t.test('durations take milliseconds or strings; signals de-duplicate', async (t) => {
  const before = process.listenerCount('SIGUSR2')
  const app = appFor(t)
  await app.register(health, { drainDelay: '30s', signals: ['SIGUSR2', 'SIGUSR2'], heap: { interval: '1m' }, eventLoopDelay: { warn: '50ms', fail: 5000 }, checks: { db: { check: () => true, timeout: '2s', interval: '1m' } } })
  await app.ready()
  t.equal(process.listenerCount('SIGUSR2'), before + 1)
  t.same(Object.keys(app.health.report().checks).sort(), ['db:responseTime', 'eventLoop:delay', 'heap:utilization'])
})

// The names of the previous release carried an `Ms` suffix; each now fails with the new name.
t.test('the renamed options are refused, naming their new names', async (t) => {
  const cases: Array<[unknown, string, string]> = [
    [{ drainDelayMs: 5000 }, 'drainDelayMs', 'drainDelay'],
    [{ drainDeadlineMs: 30_000 }, 'drainDeadlineMs', 'drainDeadline'],
    [{ checks: { db: { check: () => true, timeoutMs: 500 } } }, 'checks.db.timeoutMs', 'timeout'],
    [{ checks: { db: { check: () => true, intervalMs: 500 } } }, 'checks.db.intervalMs', 'interval'],
    [{ redisCheck: { timeoutMs: 500 } }, 'redisCheck.timeoutMs', 'timeout'],
    [{ redisCheck: { intervalMs: 500 } }, 'redisCheck.intervalMs', 'interval'],
    [{ eventLoopDelay: { warnMs: 50 } }, 'eventLoopDelay.warnMs', 'warn'],
    [{ eventLoopDelay: { failMs: 500 } }, 'eventLoopDelay.failMs', 'fail'],
    [{ eventLoopDelay: { intervalMs: 500 } }, 'eventLoopDelay.intervalMs', 'interval'],
    [{ heap: { intervalMs: 500 } }, 'heap.intervalMs', 'interval']
  ]
  for (const [options, option, renamed] of cases) await rejects(t, options, option, new RegExp(`no such option: did you mean \`${renamed}\`\\?`))
})
