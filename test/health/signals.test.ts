import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { waitUntil } from '../helpers/index.js'

const fixture = fileURLToPath(new URL('./fixtures/signal-server.ts', import.meta.url))
const root = fileURLToPath(new URL('../../', import.meta.url))

interface Server { child: ChildProcess, port: number, lines: () => Array<Record<string, unknown>>, exited: Promise<[number | null, NodeJS.Signals | null]> }

async function start (t: Test, env: Record<string, string>): Promise<Server> {
  // The test runner's NODE_OPTIONS (its own loaders) stay out of the child: tsx runs it from source.
  const { NODE_OPTIONS: _ignored, ...rest } = process.env
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@scaleout/source', fixture], {
    cwd: root,
    env: { ...rest, ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => { out += chunk })
  const lines = (): Array<Record<string, unknown>> => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  await waitUntil('the child server listens', () => {
    if (child.exitCode !== null) throw new Error(`child exited with ${child.exitCode}`)
    return lines().some((l) => typeof l.listeningOn === 'number')
  }, 60_000)
  const port = lines().find((l) => typeof l.listeningOn === 'number')?.listeningOn as number
  return { child, port, lines, exited }
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
  const messages = server.lines().map((l) => l.msg).filter((m) => typeof m === 'string' && m.startsWith('@scaleout/health: drain'))
  t.same(messages, [
    '@scaleout/health: drain started (SIGTERM): readiness now fails; closing the server in 3000ms',
    '@scaleout/health: drain: closing the server (new requests get 503 + Connection: close, in-flight requests finish)',
    '@scaleout/health: drain: server closed',
    '@scaleout/health: drain: exiting with code 0'
  ])
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
