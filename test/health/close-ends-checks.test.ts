import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { waitUntil } from '../helpers/index.js'
import { build } from './fixtures/app.js'

// README: "Checks stop when the server closes". A run in flight at close kept going with its signal
// unaborted, and its timeout timer (up to 24 h) held the process open after close().

t.test('a check in flight when the server closes is aborted and its run ends with the close', async (t) => {
  const { app } = await build(t, { redis: false })
  await app.ready()
  let signal: AbortSignal | undefined
  let calls = 0
  app.health.addCheck('slow', async (s) => {
    calls++
    signal = s
    // Settles only on abort, as a well-behaved check does.
    await new Promise((_resolve, reject) => { s.addEventListener('abort', () => reject(s.reason)) })
  }, { timeout: '1h', interval: '1h' })
  await waitUntil('the check is running', () => signal !== undefined, 5000)
  await app.close()
  t.equal(signal?.aborted, true, 'aborted at close, not an hour later')
  t.match(signal?.reason, { code: 'SCALEOUT_ERR_HEALTH_CHECK_CANCELLED', message: 'check cancelled: the server is closing' })
  t.match(app.health.report().checks['slow:responseTime'], [{ status: 'fail', output: 'check cancelled: the server is closing' }])
  const report = await app.health.refresh()
  t.equal(calls, 1, 'refresh() after close runs nothing')
  t.match(report.checks['slow:responseTime'], [{ output: 'check cancelled: the server is closing' }])
})

t.test('a hung check that ignores its abort signal does not keep the process alive after close', async (t) => {
  const fixture = fileURLToPath(new URL('./fixtures/close-with-hung-check.ts', import.meta.url))
  const child = spawn(process.execPath, [...process.execArgv, fixture], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => { out += chunk })
  const exited = once(child, 'exit')
  await waitUntil('the child closed its app', () => out.includes('closed'), 60_000)
  // Before the fix the check's one-hour timeout timer kept the child alive; this bound is generous.
  await waitUntil('the child exits by itself', () => child.exitCode !== null, 30_000)
  const [code] = await exited
  t.equal(code, 0)
})
