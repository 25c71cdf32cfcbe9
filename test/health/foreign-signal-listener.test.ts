import t from 'tap'
import health from '@scaleout/health'
import { appFor, logSink } from '../helpers/index.js'

// Regression: a service that already handled SIGTERM (its own shutdown code) lost the drain without
// a word: its listener closed the app or exited while readiness still passed.
const WARNING = '@scaleout/health: SIGTERM already had a listener of its own; if it closes the app or exits, the drain is lost. ' +
  'Remove it, or set signals: false and call fastify.health.drain() from it'

t.test("a listener of the service's own on a drain signal is warned about, once", async (t) => {
  const own = (): void => {}
  process.on('SIGTERM', own)
  t.teardown(() => { process.off('SIGTERM', own) })
  const sink = logSink()
  const app = appFor(t, { logger: sink.logger })
  await app.register(health)
  await app.ready()
  t.same(sink.messages(40), [WARNING])
  t.match(sink.lines.find((line) => line.msg === WARNING), { plugin: '@scaleout/health', signals: ['SIGTERM'] })
})

t.test('no warning for other health instances, signal-exit (v3 and v4), or signals: false', async (t) => {
  // tap itself installs signal-exit v4 in this process; this one has the v3 handler's shape.
  function signalExitV3 (): void {
    const listeners = process.listeners('SIGINT')
    const emitter = { count: 1 }
    if (listeners.length === emitter.count) process.exitCode = 1
  }
  process.on('SIGINT', signalExitV3)
  t.teardown(() => { process.off('SIGINT', signalExitV3) })
  t.ok(process.listenerCount('SIGTERM') > 0, 'tap installed a signal-exit listener')
  const sink = logSink()
  for (let i = 0; i < 2; i++) {
    const app = appFor(t, { logger: sink.logger })
    await app.register(health)
    await app.ready()
  }
  const own = (): void => {}
  process.on('SIGTERM', own)
  t.teardown(() => { process.off('SIGTERM', own) })
  const quiet = appFor(t, { logger: sink.logger })
  await quiet.register(health, { signals: false })
  await quiet.ready()
  t.same(sink.messages(40), [])
})
