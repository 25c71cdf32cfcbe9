import t, { type Test } from 'tap'
import health from '@scaleout/health'
import { appFor, logSink } from '../helpers/index.js'
import { build } from './fixtures/app.js'

function withHostname (t: Test, value: string): void {
  const previous = process.env.HOSTNAME
  process.env.HOSTNAME = value
  t.teardown(() => {
    if (previous === undefined) delete process.env.HOSTNAME
    else process.env.HOSTNAME = previous
  })
}

t.test('instanceHeader: true adds x-served-by to every response, 404s included', async (t) => {
  withHostname(t, 'pod-a-7f9c')
  const { app } = await build(t, { instanceHeader: true })
  app.get('/', async () => ({ hello: 'world' }))
  await app.ready()
  t.equal(app.health.identity.id, 'pod-a-7f9c')
  for (const url of ['/', '/health/ready', '/health', '/missing']) {
    t.equal((await app.inject(url)).headers['x-served-by'], 'pod-a-7f9c', url)
  }
  t.equal(app.health.report().instance, 'pod-a-7f9c')
  // The README's exception: Fastify answers a URL it cannot decode itself, before any hook.
  const undecodable = await app.inject('/%E0%A4%A')
  t.same([undecodable.statusCode, undecodable.headers['x-served-by']], [400, undefined])
})

t.test('an instance id no header can carry fails registration when instanceHeader is on, instead of failing every response', async (t) => {
  for (const id of ['pod-日本', 'pod\u0001a']) {
    withHostname(t, id)
    const app = appFor(t)
    await t.rejects(async () => {
      await app.register(health, { signals: false, instanceHeader: true })
      await app.ready()
    }, {
      code: 'SCALEOUT_ERR_INVALID_OPTION',
      message: '@scaleout/health: option `instanceHeader` is invalid: expected off, or an instance id a header can carry: the id (HOSTNAME, else the OS host name) holds a character an HTTP header value cannot (only tab, printable ASCII and U+0080 to U+00FF), which would fail every response'
    }, JSON.stringify(id))
    // Off, the id only names the instance in reports and logs: every response is served.
    const { app: off } = await build(t, {})
    const res = await off.inject('/health/ready')
    t.same([res.statusCode, res.headers['x-served-by'], off.health.identity.id], [200, undefined, id])
  }
  withHostname(t, 'pod-é')
  const { app } = await build(t, { instanceHeader: true })
  const res = await app.inject('/health/live')
  t.same([res.statusCode, res.headers['x-served-by']], [200, 'pod-é'], 'Latin-1 is header text')
})

t.test('instanceHeader takes a header name; off by default', async (t) => {
  withHostname(t, 'pod-b')
  const named = await build(t, { instanceHeader: 'X-Instance-Id' })
  const plain = await build(t, {})
  t.equal((await named.app.inject('/health/live')).headers['x-instance-id'], 'pod-b')
  const res = await plain.app.inject('/health/live')
  t.equal(res.headers['x-served-by'], undefined)
  t.equal(res.headers['x-instance-id'], undefined)
})

t.test('the instance id is bound into request logs; health routes are silent unless a level is chosen', async (t) => {
  withHostname(t, 'pod-c')
  const logs = logSink('info')
  const { app } = await build(t, {}, { logger: logs.logger })
  app.get('/work', async (request) => {
    request.log.info('doing work')
    return { ok: true }
  })
  await app.inject('/work')
  await app.inject('/health/ready')
  await app.inject('/health')
  const requestLines = logs.lines.filter((l) => l.reqId !== undefined)
  t.ok(requestLines.length >= 3, 'incoming request, doing work, request completed')
  t.ok(requestLines.every((l) => l.instance === 'pod-c'), 'every request line names the instance')
  t.ok(requestLines.some((l) => l.msg === 'doing work'))
  t.notOk(requestLines.some((l) => (l.req as { url?: string } | undefined)?.url?.startsWith('/health')), 'probes logged nothing')
})

t.test('logLevel makes probes visible; logInstance: false leaves the logger alone', async (t) => {
  withHostname(t, 'pod-d')
  const logs = logSink('info')
  const { app } = await build(t, { logLevel: 'info', logInstance: false }, { logger: logs.logger })
  await app.inject('/health/live?from=kubelet')
  const probeLines = logs.lines.filter((l) => l.reqId !== undefined)
  t.ok(probeLines.some((l) => (l.req as { url?: string } | undefined)?.url === '/health/live?from=kubelet'), 'the probe was logged at info')
  t.ok(probeLines.every((l) => !('instance' in l)), 'no instance binding')
})

t.test('with logging off no child logger factory is installed (the per-request fast path stays)', async (t) => {
  const bare = appFor(t)
  const { app: quiet } = await build(t, {})
  const { app: logged } = await build(t, {}, { logger: logSink('info').logger })
  t.equal(quiet.childLoggerFactory, bare.childLoggerFactory, 'logging off: the default factory')
  t.not(logged.childLoggerFactory, bare.childLoggerFactory, 'logging on: ours')
})
