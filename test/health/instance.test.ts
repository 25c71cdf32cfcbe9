import t, { type Test } from 'tap'
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
