import t, { type Test } from 'tap'
import { logSink, waitUntil } from '../helpers/index.js'
import { build } from './fixtures/app.js'
import { startChild, type Server } from './fixtures/child.js'

// Regression: when the service closed the app itself (its own fastify.close()), a SIGTERM during
// that close either started a drain of the closing app (20 s of drainDelay serving nothing, then a
// second close()) or, once health's onClose hook had removed its listeners while plugins registered
// before it were still closing, killed the process mid-close with nothing logged.
const WAITING = '@scaleout/health: SIGTERM while the app is already closing: waiting for that close to finish, then exiting'

const phases = (server: Server): string[] => server.lines().flatMap((l) => typeof l.phase === 'string' ? [l.phase] : [])
const messages = (server: Server): string[] => server.lines().flatMap((l) => typeof l.msg === 'string' && l.msg.startsWith('@scaleout/health') ? [l.msg] : [])

async function closeAndSignalDuring (t: Test, phase: string): Promise<Server> {
  const server = await startChild(t, 'closing-server.ts', { DRAIN_DELAY_MS: '20000', DRAIN_DEADLINE_MS: '60000', CLOSE_HOOK_MS: '3000' })
  t.equal((await fetch(`http://127.0.0.1:${server.port}/close`)).status, 200)
  await waitUntil(`the ${phase} hook runs`, () => phases(server).includes(phase), 30_000)
  server.child.kill('SIGTERM')
  return server
}

const WINDOWS: Array<[string, string]> = [
  ['a plugin registered after health', 'after closing'],
  ['a plugin registered before health (after health\'s own onClose)', 'before closing']
]
for (const [where, phase] of WINDOWS) {
  t.test(`SIGTERM while ${where} closes: waits for the close to finish, then exits 0, no drain`, async (t) => {
    const server = await closeAndSignalDuring(t, phase)
    const [code, signal] = await server.exited
    t.equal(signal, null, 'not killed by the signal')
    t.equal(code, 0)
    t.same(phases(server), ['after closing', 'after closed', 'before closing', 'before closed', 'app closed'], 'every onClose hook ran to the end')
    t.same(messages(server), [WAITING, '@scaleout/health: drain: exiting with code 0'], 'no drain of the closing app, one close')
    const lines = server.lines()
    const exitIndex = lines.findIndex((l) => l.msg === '@scaleout/health: drain: exiting with code 0')
    t.ok(exitIndex > lines.findIndex((l) => l.phase === 'before closed'), 'exits after the last onClose hook')
  })
}

t.test('a second SIGTERM during that close exits at once with 1', async (t) => {
  const server = await closeAndSignalDuring(t, 'after closing')
  await waitUntil('the first signal is logged', () => messages(server).includes(WAITING), 10_000)
  server.child.kill('SIGTERM')
  const [code, signal] = await server.exited
  t.equal(signal, null)
  t.equal(code, 1)
  t.same(messages(server), [WAITING, '@scaleout/health: SIGTERM during the close: exiting now'])
  t.notOk(phases(server).includes('before closed'), 'did not wait for the rest of the close')
})

t.test('drain() during a close already under way waits for it; a failing close exits 1; listeners stay until the end', async (t) => {
  for (const failing of [false, true]) {
    const logs = logSink('info')
    const { app, exits } = await build(t, { signals: ['SIGWINCH'], drainDelay: 20_000 }, { logger: logs.logger })
    let release: (() => void) | undefined
    app.addHook('onClose', async () => {
      await new Promise<void>((resolve) => { release = resolve })
      if (failing) throw new Error('could not flush')
    })
    await app.ready()
    const closing = app.close()
    await waitUntil('the onClose hook runs', () => release !== undefined, 10_000)
    const drained = app.health.drain()
    t.equal(process.listenerCount('SIGWINCH'), 1, 'the listener stays while the close runs')
    t.same(exits, [])
    release?.()
    await drained
    t.same(exits, [failing ? 1 : 0])
    if (failing) await t.rejects(closing, { message: 'could not flush' })
    else await closing
    t.equal(process.listenerCount('SIGWINCH'), 0, 'removed once the close has finished')
    t.same(logs.messages().filter((m) => m.startsWith('@scaleout/health')), [
      '@scaleout/health: drain() called while the app is already closing: waiting for that close to finish, then exiting',
      ...failing ? ['@scaleout/health: the close under way failed (its caller got the error)'] : [],
      `@scaleout/health: drain: exiting with code ${failing ? 1 : 0}`
    ])
  }
})

t.test('a close under way that outlasts drainDeadline from the signal exits with 1 at the deadline', async (t) => {
  const logs = logSink('info')
  const { app, exits } = await build(t, { signals: ['SIGWINCH'], drainDelay: 0, drainDeadline: 300 }, { logger: logs.logger })
  let release: (() => void) | undefined
  app.addHook('onClose', async () => { await new Promise<void>((resolve) => { release = resolve }) })
  await app.ready()
  const closing = app.close()
  await waitUntil('the onClose hook runs', () => release !== undefined, 10_000)
  process.emit('SIGWINCH', 'SIGWINCH')
  await waitUntil('the deadline exits', () => exits.length > 0, 10_000)
  t.same(exits, [1])
  t.match(logs.lines.find((l) => l.msg === '@scaleout/health: drain: deadline reached'), { level: 50, err: { code: 'SCALEOUT_ERR_HEALTH_DRAIN_DEADLINE' } })
  release?.()
  await closing
  t.same(exits, [1], 'nothing more once the close ends')
})

t.test('a second signal once a drain\'s own close has begun still says the drain was cut short', async (t) => {
  const logs = logSink('info')
  const { app, exits } = await build(t, { signals: ['SIGWINCH'], drainDelay: 0, drainDeadline: 20_000 }, { logger: logs.logger })
  let release: (() => void) | undefined
  app.addHook('onClose', async () => { await new Promise<void>((resolve) => { release = resolve }) })
  await app.ready()
  process.emit('SIGWINCH', 'SIGWINCH')
  await waitUntil('the drain\'s close runs the onClose hook', () => release !== undefined, 10_000)
  process.emit('SIGWINCH', 'SIGWINCH')
  t.same(exits, [1])
  t.ok(logs.messages().includes('@scaleout/health: SIGWINCH during the drain: exiting now'))
  release?.()
  await waitUntil('the drain ends', () => exits.length === 2, 10_000)
  t.same(exits, [1, 0])
})
