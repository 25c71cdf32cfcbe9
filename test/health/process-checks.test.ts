import t from 'tap'
import { waitUntil } from '../helpers/index.js'
import { build } from './fixtures/app.js'

// These waits are ordered by the event loop, not raced: the histogram ticks on a 10 ms libuv timer,
// and a timer armed after it with a longer delay (or after a block, with any delay) always runs
// after its tick.
/** Until after the histogram's first tick, which only sets its baseline (the delay since counts). */
async function afterFirstTick (): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 30))
}

/** Until after the tick that follows a block, which records the late tick as the delay. */
async function afterNextTick (): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 50))
}

function block (ms: number): void {
  const until = Date.now() + ms
  while (Date.now() < until) { /* keep the event loop busy on purpose */ }
}

t.test('event-loop delay over fail fails liveness (and readiness) with 503, then recovers', async (t) => {
  const { app } = await build(t, { eventLoopDelay: { warn: 20, fail: 100, interval: 60_000 } })
  await app.ready()
  t.match(app.health.report().checks['eventLoop:delay'], [{ status: 'pass', observedValue: 0, observedUnit: 'ms' }], 'no samples before the server was ready')
  t.same((await app.inject('/health/live')).json(), { status: 'pass' })

  await afterFirstTick()
  block(400)
  await afterNextTick()
  await app.health.refresh()
  const [observation] = app.health.report().checks['eventLoop:delay'] ?? []
  t.equal(observation?.status, 'fail')
  t.ok((observation?.observedValue as number) >= 100, `p99 ${String(observation?.observedValue)}ms`)
  t.match(observation?.output, /^p99 event-loop delay [\d.]+ms is at or over the fail threshold of 100ms$/)
  const live = await app.inject('/health/live')
  t.equal(live.statusCode, 503)
  t.same(live.json(), { status: 'fail' })
  t.equal((await app.inject('/health/ready')).statusCode, 503, 'an overloaded process also stops taking traffic')

  await waitUntil('liveness recovers once the loop is free', async () => {
    await app.health.refresh()
    return (await app.inject('/health/live')).statusCode === 200
  }, 15_000)
  t.pass('recovered')
})

t.test('event-loop delay between warn and fail warns with 200', async (t) => {
  const { app } = await build(t, { eventLoopDelay: { warn: 50, fail: 60_000, interval: 60_000 } })
  await app.ready()
  await afterFirstTick()
  block(200)
  await afterNextTick()
  await app.health.refresh()
  t.match(app.health.report().checks['eventLoop:delay'], [{ status: 'warn', output: /at or over the warn threshold of 50ms$/ }])
  const live = await app.inject('/health/live')
  t.equal(live.statusCode, 200)
  t.same(live.json(), { status: 'warn' })
})

t.test('heap utilisation: pass, warn and fail against the heap limit', async (t) => {
  const cases: Array<[object | boolean, string, number]> = [
    [true, 'pass', 200],
    [{ warnPercent: 0.001, failPercent: 100 }, 'warn', 200],
    [{ warnPercent: 0.001, failPercent: 0.002 }, 'fail', 503]
  ]
  for (const [heap, status, code] of cases) {
    const { app } = await build(t, { heap: heap as true })
    await app.ready()
    const [observation] = app.health.report().checks['heap:utilization'] ?? []
    t.equal(observation?.status, status, JSON.stringify(heap))
    t.equal(observation?.observedUnit, '%')
    t.ok((observation?.observedValue as number) > 0 && (observation?.observedValue as number) < 100)
    t.equal((await app.inject('/health/live')).statusCode, code)
    await app.close()
  }
})
