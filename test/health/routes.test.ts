import t from 'tap'
import { hostname } from 'node:os'
import health from '@scaleout/health'
import { appFor } from '../helpers/index.js'
import { build, controlled, HEALTH_JSON } from './fixtures/app.js'

const LONG = { interval: 60_000 }
// inject connects from 127.0.0.1; the details route shows the report only to listed callers.
const LOCAL = ['127.0.0.1']
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

async function probe (app: Awaited<ReturnType<typeof build>>['app'], url: string): Promise<{ code: number, body: unknown }> {
  const res = await app.inject(url)
  return { code: res.statusCode, body: res.json() }
}

t.test('pass: every route answers 200 with application/health+json and no-store', async (t) => {
  const dep = controlled('pass')
  const { app } = await build(t, { detailsAllowList: LOCAL, checks: { dep: { check: dep.check, ...LONG } } })
  await app.ready()
  for (const url of ['/health/live', '/health/ready', '/health/startup']) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 200, url)
    t.equal(res.headers['content-type'], HEALTH_JSON, url)
    t.equal(res.headers['cache-control'], 'no-store', url)
    t.same(res.json(), { status: 'pass' }, url)
  }
  const res = await app.inject('/health')
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], HEALTH_JSON)
  t.equal(res.headers['cache-control'], 'no-store')
  const report = res.json()
  t.same(Object.keys(report), ['status', 'instance', 'version', 'uptime', 'checks'])
  t.equal(report.status, 'pass')
  t.equal(report.instance, process.env.HOSTNAME ?? hostname())
  t.equal(report.version, process.env.APP_VERSION ?? 'unknown')
  t.ok(Number.isInteger(report.uptime) && report.uptime >= 0)
  t.same(Object.keys(report.checks), ['dep:responseTime'])
  t.equal(report.checks['dep:responseTime'].length, 1)
  const [observation] = report.checks['dep:responseTime']
  t.same(Object.keys(observation), ['status', 'observedValue', 'observedUnit', 'time'])
  t.equal(observation.status, 'pass')
  t.equal(observation.observedUnit, 'ms')
  t.ok(typeof observation.observedValue === 'number' && observation.observedValue >= 0)
  t.match(observation.time, ISO)
  t.equal(dep.calls(), 1, 'the probes above ran no check: only the first run at ready did')
})

t.test('warn: a check reporting warn, or a failing non-critical check, answers 200 warn', async (t) => {
  const dep = controlled('pass')
  const optional = controlled('pass')
  const { app } = await build(t, { detailsAllowList: LOCAL, checks: { dep: { check: dep.check, ...LONG }, optional: { check: optional.check, critical: false, ...LONG } } })
  await app.ready()

  dep.set('warn')
  await app.health.refresh()
  t.same(await probe(app, '/health/ready'), { code: 200, body: { status: 'warn' } })
  t.same(await probe(app, '/health/live'), { code: 200, body: { status: 'pass' } }, 'liveness never reads dependency checks')
  t.same(await probe(app, '/health/startup'), { code: 200, body: { status: 'pass' } })
  let details = await probe(app, '/health')
  t.equal(details.code, 200)
  t.match(details.body, { status: 'warn', checks: { 'dep:responseTime': [{ status: 'warn', observedValue: 7, observedUnit: 'items', output: 'queue growing' }] } })

  dep.set('pass')
  optional.set('fail')
  await app.health.refresh()
  t.same(await probe(app, '/health/ready'), { code: 200, body: { status: 'warn' } })
  details = await probe(app, '/health')
  t.equal(details.code, 200)
  t.match(details.body, { status: 'warn', checks: { 'dep:responseTime': [{ status: 'pass' }], 'optional:responseTime': [{ status: 'fail', output: 'dependency down', observedUnit: 'ms' }] } })
})

t.test('fail: a failing critical check fails readiness and details with 503, not liveness or startup', async (t) => {
  const dep = controlled('pass')
  const { app } = await build(t, { detailsAllowList: LOCAL, checks: { dep: { check: dep.check, ...LONG } } })
  await app.ready()
  dep.set('fail')
  await app.health.refresh()
  t.same(await probe(app, '/health/ready'), { code: 503, body: { status: 'fail' } })
  t.same(await probe(app, '/health/live'), { code: 200, body: { status: 'pass' } })
  t.same(await probe(app, '/health/startup'), { code: 200, body: { status: 'pass' } }, 'startup passed once and stays passed')
  const details = await probe(app, '/health')
  t.equal(details.code, 503)
  t.match(details.body, { status: 'fail', checks: { 'dep:responseTime': [{ status: 'fail', output: 'dependency down' }] } })
  t.notOk('output' in (details.body as object), 'a failing check explains itself; no phase output')

  dep.set('pass')
  await app.health.refresh()
  t.same(await probe(app, '/health/ready'), { code: 200, body: { status: 'pass' } }, 'recovers with the next run')
})

t.test('starting: readiness and startup fail until the first passing run of the critical checks', async (t) => {
  const dep = controlled('fail')
  const optional = controlled('fail')
  const { app } = await build(t, { detailsAllowList: LOCAL, checks: { dep: { check: dep.check, ...LONG }, optional: { check: optional.check, critical: false, ...LONG } } })
  t.equal(app.health.started, false)
  await app.ready()
  t.equal(app.health.started, false)
  const starting = { code: 503, body: { status: 'fail', output: 'starting' } }
  t.same(await probe(app, '/health/ready'), starting)
  t.same(await probe(app, '/health/startup'), starting)
  t.same(await probe(app, '/health/live'), { code: 200, body: { status: 'pass' } })
  const details = await probe(app, '/health')
  t.equal(details.code, 503)
  t.match(details.body, { status: 'fail', output: 'starting' })

  dep.set('pass')
  await app.health.refresh()
  t.equal(app.health.started, true)
  t.same(await probe(app, '/health/startup'), { code: 200, body: { status: 'pass' } })
  t.same(await probe(app, '/health/ready'), { code: 200, body: { status: 'warn' } }, 'the non-critical failure does not hold startup back')
})

t.test('a check added before ready is pending (fail, "not checked yet") in the report until it runs', async (t) => {
  const { app } = await build(t, {})
  await app.after()
  app.health.addCheck('late', async () => undefined, LONG)
  const report = app.health.report()
  t.equal(report.status, 'fail')
  t.equal(report.output, 'starting')
  t.match(report.checks['late:responseTime'], [{ status: 'fail', output: 'not checked yet' }])
  await app.ready()
  t.equal(app.health.report().status, 'pass')
})

t.test('HEAD and query strings on every route', async (t) => {
  const dep = controlled('pass')
  const { app } = await build(t, { checks: { dep: { check: dep.check, ...LONG } } })
  await app.ready()
  for (const url of ['/health/live', '/health/ready', '/health/startup', '/health']) {
    const head = await app.inject({ method: 'HEAD', url })
    t.equal(head.statusCode, 200, `HEAD ${url}`)
    t.equal(head.headers['content-type'], HEALTH_JSON)
    t.equal(head.headers['cache-control'], 'no-store')
    t.equal(head.body, '', `HEAD ${url} has no body`)
    const query = await app.inject(`${url}?probe=kubelet&t=${Date.now()}`)
    t.equal(query.statusCode, 200, `${url} with a query string`)
    t.equal(query.json().status, 'pass')
  }
  dep.set('fail')
  await app.health.refresh()
  t.equal((await app.inject({ method: 'HEAD', url: '/health/ready?x=1' })).statusCode, 503)
})

t.test('HEAD works even when the app turned automatic HEAD routes off', async (t) => {
  const { app } = await build(t, {}, { exposeHeadRoutes: false })
  await app.ready()
  t.equal((await app.inject({ method: 'HEAD', url: '/health/ready' })).statusCode, 200)
})

t.test('paths are configurable and a route can be left out', async (t) => {
  const { app } = await build(t, { paths: { live: '/livez', ready: '/readyz', startup: false, details: '/status/health' } })
  await app.ready()
  t.equal((await app.inject('/livez')).statusCode, 200)
  t.equal((await app.inject('/readyz')).statusCode, 200)
  t.equal((await app.inject('/status/health')).json().status, 'pass')
  for (const url of ['/health/live', '/health/ready', '/health/startup', '/health']) {
    t.equal((await app.inject(url)).statusCode, 404, `${url} is not registered`)
  }
})

t.test('every route can be left out', async (t) => {
  const { app } = await build(t, { paths: { live: false, ready: false, startup: false, details: false } })
  await app.ready()
  t.equal((await app.inject('/health')).statusCode, 404)
  t.equal(app.health.report().status, 'pass')
})

// Fastify ignores `prefix` for plugins wrapped in fastify-plugin: before, `{ prefix: '/api' }`
// was accepted and the routes stayed at /health/*.
t.test('prefix is prepended to every path, default or configured', async (t) => {
  const { app } = await build(t, { prefix: '/api' })
  await app.ready()
  for (const url of ['/api/health/live', '/api/health/ready', '/api/health/startup', '/api/health']) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 200, url)
    t.same(res.json(), { status: 'pass' }, url)
    t.equal((await app.inject({ method: 'HEAD', url })).statusCode, 200, `HEAD ${url}`)
  }
  for (const url of ['/health/live', '/health/ready', '/health/startup', '/health']) {
    t.equal((await app.inject(url)).statusCode, 404, `${url} is not registered`)
  }

  const { app: custom } = await build(t, { prefix: '/internal/', paths: { live: '/livez', ready: '/readyz', startup: false } })
  await custom.ready()
  t.equal((await custom.inject('/internal/livez')).statusCode, 200, 'a trailing slash on the prefix is dropped')
  t.equal((await custom.inject('/internal/readyz')).statusCode, 200)
  t.equal((await custom.inject('/internal/health')).statusCode, 200)
  t.equal((await custom.inject('/internal/health/startup')).statusCode, 404, 'a route left out stays out')
  t.equal((await custom.inject('/livez')).statusCode, 404)

  const { app: root } = await build(t, { prefix: '/' })
  await root.ready()
  t.equal((await root.inject('/health/ready')).statusCode, 200, '"/" adds nothing')
})

t.test('inside a scope registered with a prefix, both prefixes apply', async (t) => {
  const app = appFor(t)
  await app.register(async (scope) => {
    await scope.register(health, { prefix: '/ops', signals: false, eventLoopDelay: false })
  }, { prefix: '/v1' })
  await app.ready()
  t.equal((await app.inject('/v1/ops/health/ready')).statusCode, 200)
  t.equal((await app.inject('/ops/health/ready')).statusCode, 404)
})
