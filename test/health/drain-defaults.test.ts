import t, { type Test } from 'tap'
import type { HealthOptions } from '@scaleout/health'
import { build } from './fixtures/app.js'

// The README's defaults for the drain: drainDelay 10 s, drainDeadline 25 s, or drainDelay + 15 s
// when that is larger. The drain arms both timers as it starts: their delays are read there, the
// delay's timer runs at once (so the test does not wait for it) and the deadline's is armed as
// asked (the close then wins, and the drain clears it); the drain's log line says the same.

async function armed (t: Test, options: HealthOptions): Promise<{ delays: number[], logged: unknown }> {
  const lines: Array<Record<string, unknown>> = []
  const { app, exits } = await build(t, options, { logger: { level: 'info', stream: { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } } } })
  await app.ready()
  const delays: number[] = []
  const real = globalThis.setTimeout
  const fake = ((fn: () => void, ms?: number) => {
    delays.push(Number(ms))
    return real(fn, delays.length === 1 ? 0 : ms)
  }) as unknown as typeof setTimeout
  globalThis.setTimeout = fake
  let drained: Promise<void>
  try {
    drained = app.health.drain('test')
  } finally {
    globalThis.setTimeout = real
  }
  await drained
  t.same(exits, [0])
  const started = lines.find((l) => String(l.msg).startsWith('@scaleout/health: drain started (test)'))
  return { delays, logged: started === undefined ? undefined : { drainDelay: started.drainDelay, drainDeadline: started.drainDeadline } }
}

t.test('by default the drain waits 10 s before closing, and exits at the latest 25 s after it began', async (t) => {
  const { delays, logged } = await armed(t, {})
  t.same(delays, [10_000, 25_000])
  t.same(logged, { drainDelay: 10_000, drainDeadline: 25_000 })
})

t.test('with a drainDelay over 10 s, the default deadline is drainDelay + 15 s', async (t) => {
  const { delays, logged } = await armed(t, { drainDelay: '20s' })
  t.same(delays, [20_000, 35_000])
  t.same(logged, { drainDelay: 20_000, drainDeadline: 35_000 })
})

t.test('under 10 s the default deadline stays 25 s; a given one is kept', async (t) => {
  t.same((await armed(t, { drainDelay: 2000 })).delays, [2000, 25_000])
  t.same((await armed(t, { drainDelay: 2000, drainDeadline: '1m' })).delays, [2000, 60_000])
})
