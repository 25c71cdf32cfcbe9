import type { Test } from 'tap'

/**
 * performance.now (the monotonic clock the plugins' log throttles read), frozen for the test and
 * moved on by hand: a test of "at most one warning a minute" then waits for nothing.
 */
export function frozenClock (t: Test): { advance: (ms: number) => void } {
  let now = 1_000_000
  t.capture(performance, 'now', () => now)
  return { advance: (ms) => { now += ms } }
}
