import t, { type Test } from 'tap'
import { waitUntil } from '../helpers/index.js'
import { startChild, type Server } from './fixtures/child.js'

async function start (t: Test, env: Record<string, string>): Promise<Server> {
  return await startChild(t, 'signal-server.ts', env)
}

async function status (port: number, path: string): Promise<number | string> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`)
    const body = await res.text()
    // Tells readiness failing on purpose from Fastify's own 503 while closing.
    return body === '{"status":"fail","output":"draining"}' ? 'draining' : res.status
  } catch (err) {
    return ((err as Error & { cause?: { code?: string } }).cause?.code) ?? 'error'
  }
}

t.test('SIGTERM: readiness 503 at once, traffic served during the delay, then close and exit 0, each phase logged', async (t) => {
  const server = await start(t, { DRAIN_DELAY_MS: '3000' })
  t.equal(await status(server.port, '/health/ready'), 200)
  server.child.kill('SIGTERM')
  await waitUntil('readiness fails with 503 "draining"', async () => await status(server.port, '/health/ready') === 'draining', 10_000)
  t.equal(await status(server.port, '/'), 200, 'normal traffic is still served')
  t.equal(await status(server.port, '/health/live'), 200, 'liveness stays 200')
  const [code, signal] = await server.exited
  t.equal(code, 0)
  t.equal(signal, null, 'exited on its own, not killed by the signal')
  t.equal(await status(server.port, '/health/ready'), 'ECONNREFUSED')
  // Each phase once, in order of their timestamps (a child's stdout pipe may deliver lines late).
  const phases = [
    '@scaleout/health: drain started (SIGTERM): readiness now fails; closing the server in 3000ms',
    '@scaleout/health: drain: closing the server (new requests get 503 + Connection: close, in-flight requests finish)',
    '@scaleout/health: drain: server closed',
    '@scaleout/health: drain: exiting with code 0'
  ]
  const logged = server.lines().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('@scaleout/health: drain'))
  t.same(logged.map((l) => l.msg).sort(), [...phases].sort())
  const times = phases.map((msg) => logged.find((l) => l.msg === msg)?.time as number)
  t.same(times, [...times].sort((a, b) => a - b), 'logged in this order')
})

t.test('SIGINT twice: the second one exits at once with 1', async (t) => {
  const server = await start(t, { DRAIN_DELAY_MS: '20000', DRAIN_DEADLINE_MS: '30000' })
  server.child.kill('SIGINT')
  await waitUntil('readiness fails', async () => await status(server.port, '/health/ready') === 'draining', 10_000)
  server.child.kill('SIGINT')
  const [code] = await server.exited
  t.equal(code, 1)
  t.ok(server.lines().some((l) => l.msg === '@scaleout/health: SIGINT during the drain: exiting now'))
})
