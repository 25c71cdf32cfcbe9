import t from 'tap'
import { request, Agent, type IncomingHttpHeaders } from 'node:http'
import { connect } from 'node:net'
import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import { logSink, sleep, waitUntil } from '../helpers/index.js'
import { build } from './fixtures/app.js'

interface Outcome { path: string, start: number, end: number, status?: number, headers?: IncomingHttpHeaders, body?: string, error?: string }

function get (port: number, path: string, agent: Agent): Promise<Outcome> {
  const start = performance.now()
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ path, start, end: performance.now(), status: res.statusCode as number, headers: res.headers, body }))
      res.on('error', (err) => resolve({ path, start, end: performance.now(), error: err.message }))
    })
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ path, start, end: performance.now(), error: err.code ?? err.message }))
    req.end()
  })
}

const CLOSING_BODY = '{"error":"Service Unavailable","message":"Service Unavailable","statusCode":503}'

t.test('drain under a stream of requests: readiness 503 first, nothing fails before close, in-flight work finishes, exit 0', async (t) => {
  const logs = logSink('info')
  const { app, exits } = await build(t, { drainDelay: 1500, drainDeadline: 20_000 }, { logger: logs.logger })
  let closeStartedAt = Infinity
  app.addHook('preClose', async () => { closeStartedAt = performance.now() })
  app.get('/', async () => ({ ok: true }))
  let slowStarted = false
  app.get('/slow', async () => {
    // Held open until close has begun, so it is in flight across the close however slow the machine.
    slowStarted = true
    await waitUntil('close began', () => closeStartedAt !== Infinity, 30_000)
    await sleep(100)
    return { slow: true }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }

  const traffic = new Agent({ keepAlive: true, maxSockets: 4 })
  const probes = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => {
    traffic.destroy()
    probes.destroy()
  })
  const outcomes: Outcome[] = []
  const control = { stop: false }
  const worker = async (): Promise<void> => {
    while (!control.stop) {
      const outcome = await get(port, '/', traffic)
      outcomes.push(outcome)
      if (outcome.error !== undefined) await sleep(5)
    }
  }
  const prober = async (): Promise<void> => {
    while (!control.stop) {
      outcomes.push(await get(port, '/health/ready', probes))
      await sleep(40)
    }
  }
  const running = [worker(), worker(), worker(), worker(), prober()]

  // Steady traffic and a passing probe first, however slow the machine is today.
  await waitUntil('traffic is flowing', () => outcomes.filter((o) => o.status === 200 && o.path === '/').length >= 20 &&
    outcomes.some((o) => o.path === '/health/ready' && o.status === 200), 30_000)
  const slow = get(port, '/slow', new Agent({ keepAlive: true }))
  await waitUntil('the slow request is in its handler', () => slowStarted, 30_000)
  const drainStartedAt = performance.now()
  const drained = app.health.drain()
  t.equal(app.health.draining, true)
  await drained
  const slowOutcome = await slow
  control.stop = true
  await Promise.all(running)

  t.same(exits, [0], 'exit(0) after a clean close')
  t.equal(app.server.listening, false)
  t.ok(closeStartedAt - drainStartedAt >= 1499, `close began ${Math.round(closeStartedAt - drainStartedAt)}ms after the drain began: not before drainDelay`)

  const traffic200 = outcomes.filter((o) => o.path === '/' && o.end < closeStartedAt)
  t.ok(traffic200.length >= 20, `${traffic200.length} requests completed before close`)
  t.same(traffic200.filter((o) => o.status !== 200), [], 'no request failed before close')
  const duringDelay = outcomes.filter((o) => o.path === '/' && o.start > drainStartedAt && o.end < closeStartedAt)
  t.ok(duringDelay.length > 0, `normal traffic still served while draining (${duringDelay.length} requests)`)

  const readyBefore = outcomes.filter((o) => o.path === '/health/ready' && o.end < drainStartedAt)
  const readyDraining = outcomes.filter((o) => o.path === '/health/ready' && o.start > drainStartedAt && o.end < closeStartedAt)
  t.ok(readyBefore.length > 0 && readyBefore.every((o) => o.status === 200), 'readiness 200 before the drain')
  t.ok(readyDraining.length > 0, `${readyDraining.length} readiness probes between drain start and close`)
  t.same(readyDraining.map((o) => [o.status, o.body]), readyDraining.map(() => [503, '{"status":"fail","output":"draining"}']), 'readiness 503 before close')

  t.equal(slowOutcome.status, 200, 'the request in flight when close began finished')
  t.equal(slowOutcome.body, '{"slow":true}')
  t.ok(slowOutcome.start < closeStartedAt && slowOutcome.end > closeStartedAt, 'it really was in flight at close')

  // Sent once close had begun: refused, or Fastify's own 503 + Connection: close.
  const sentAfterClose = outcomes.filter((o) => o.start > closeStartedAt && o.status !== undefined)
  t.same(sentAfterClose.map((o) => [o.status, o.headers?.connection, o.body]), sentAfterClose.map(() => [503, 'close', CLOSING_BODY]))
  // In flight across the start of close: finished normally (traffic 200, probes 503 draining) or Fastify's 503.
  const across = outcomes.filter((o) => o.start <= closeStartedAt && o.end > closeStartedAt && o.status !== undefined)
  for (const o of across) {
    const expected = o.body === CLOSING_BODY ? CLOSING_BODY : o.path === '/health/ready' ? '{"status":"fail","output":"draining"}' : o.path === '/slow' ? '{"slow":true}' : '{"ok":true}'
    t.equal(o.body, expected, `${o.path} across close`)
  }
  const errors = outcomes.filter((o) => o.error !== undefined)
  t.ok(errors.every((o) => o.start > closeStartedAt || o.end > closeStartedAt), 'connection errors only once the server closed')

  const phases = logs.messages().filter((m) => m.startsWith('@scaleout/health: drain'))
  t.same(phases, [
    '@scaleout/health: drain started (drain() called): readiness now fails; closing the server in 1500ms',
    '@scaleout/health: drain: closing the server (new requests get 503 + Connection: close, in-flight requests finish)',
    '@scaleout/health: drain: server closed',
    '@scaleout/health: drain: exiting with code 0'
  ], 'each phase is logged')
})

t.test('after close begins, a request on a busy keep-alive connection gets 503 + Connection: close', async (t) => {
  const { app, exits } = await build(t, { drainDelay: 0, drainDeadline: 20_000 })
  let inHandler = false
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.get('/', async () => ({ ok: true }))
  app.get('/slow', async () => {
    inHandler = true
    await waitUntil('close began', () => closing, 10_000)
    await sleep(100)
    return { slow: true }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const socket = connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  let received = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { received += chunk })
  socket.write('GET /slow HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n')
  await waitUntil('the slow request is in its handler', () => inHandler, 10_000)
  const drained = app.health.drain()
  await waitUntil('close began', () => closing, 10_000)
  socket.write('GET / HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n')
  await once(socket, 'end')
  await drained
  t.same(exits, [0])

  const [first, second] = received.split(/(?=HTTP\/1\.1 )/)
  t.match(first, /^HTTP\/1\.1 200 OK\r\n/)
  t.match(first, /\r\n\r\n\{"slow":true\}$/)
  t.match(second, /^HTTP\/1\.1 503 Service Unavailable\r\n/)
  t.match(second, /\r\nConnection: close\r\n/i)
  t.ok(second?.endsWith(`\r\n\r\n${CLOSING_BODY}`))
})

t.test('idle keep-alive connections are closed, so close does not wait for their timeout', async (t) => {
  const { app, exits } = await build(t, { drainDelay: 0, drainDeadline: 20_000 })
  app.get('/', async () => ({ ok: true }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const first = await get(port, '/', agent)
  t.equal(first.status, 200)
  t.equal(first.headers?.connection, 'keep-alive')
  const idle = Object.values(agent.freeSockets).flat()[0]
  t.ok(idle, 'an idle keep-alive socket is parked in the agent')
  const closed = once(idle as NodeJS.EventEmitter, 'close')
  const started = performance.now()
  await app.health.drain()
  await closed
  t.same(exits, [0], 'closed cleanly instead of at the deadline')
  t.ok(performance.now() - started < 20_000, 'well before the 72s keep-alive timeout')
})

t.test('the deadline exits with 1 when a request never finishes', async (t) => {
  const logs = logSink('info')
  const { app, exits } = await build(t, { drainDelay: 50, drainDeadline: 400 }, { logger: logs.logger })
  let release: () => void = () => {}
  let arrived = false
  app.get('/stuck', async () => {
    arrived = true
    await new Promise<void>((resolve) => { release = resolve })
    return { late: true }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const agent = new Agent({ keepAlive: false })
  const stuck = get(port, '/stuck', agent)
  await waitUntil('the stuck request arrived', () => arrived, 30_000)
  await app.health.drain()
  t.same(exits, [1], 'exit(1) at the deadline')
  const deadline = logs.lines.find((l) => l.msg === '@scaleout/health: drain: deadline reached')
  t.match(deadline, { level: 50, err: { code: 'SCALEOUT_ERR_HEALTH_DRAIN_DEADLINE', message: 'the server did not close within 400ms of the drain start; exiting' } })
  release()
  t.equal((await stuck).status, 200)
  await waitUntil('the server finally closed', () => !app.server.listening, 10_000)
})

t.test('a failing close exits with 1 and says so', async (t) => {
  const logs = logSink('info')
  const { app, exits } = await build(t, { drainDelay: 0 }, { logger: logs.logger })
  app.addHook('onClose', async () => { throw new Error('could not flush') })
  await app.ready()
  await app.health.drain('test')
  t.same(exits, [1])
  t.match(logs.lines.find((l) => l.msg === '@scaleout/health: drain: closing the server failed'), { level: 50, err: { message: 'could not flush' } })
  t.ok(logs.messages().includes('@scaleout/health: drain started (test): readiness now fails; closing the server in 0ms'))
})

t.test('liveness and startup stay 200 while draining; drain() twice is one drain', async (t) => {
  const { app, exits } = await build(t, { drainDelay: 2000 })
  await app.ready()
  const first = app.health.drain()
  const second = app.health.drain()
  t.same((await app.inject('/health/live')).json(), { status: 'pass' })
  t.equal((await app.inject('/health/live')).statusCode, 200)
  t.equal((await app.inject('/health/startup')).statusCode, 200)
  t.same((await app.inject('/health/ready')).json(), { status: 'fail', output: 'draining' })
  await Promise.all([first, second])
  t.same(exits, [0], 'exit called once')
})

t.test('a configured signal starts the drain; a second one exits at once; listeners go with close', async (t) => {
  t.equal(process.listenerCount('SIGWINCH'), 0, 'nothing else in this process listens to SIGWINCH')
  const { app, exits } = await build(t, { signals: ['SIGWINCH'], drainDelay: 2000 })
  await app.ready()
  t.equal(process.listenerCount('SIGWINCH'), 1)
  process.emit('SIGWINCH', 'SIGWINCH')
  t.equal(app.health.draining, true)
  t.equal((await app.inject('/health/ready')).statusCode, 503)
  process.emit('SIGWINCH', 'SIGWINCH')
  t.same(exits, [1], 'the second signal exits now')
  await waitUntil('the drain ends', () => exits.length === 2, 10_000)
  t.same(exits, [1, 0])
  t.equal(process.listenerCount('SIGWINCH'), 0, 'removed when the server closed')
})
