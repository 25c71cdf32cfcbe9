import t from 'tap'
import { performance } from 'node:perf_hooks'
import { waitUntil } from '../helpers/index.js'
import { build } from './fixtures/app.js'

// "So a dependency failure shows on readiness within `interval + timeout`" rests on runs starting
// every `interval` from the start of the previous run: measured from its end, a run that hung for
// its whole timeout would push the next one out by that much. Counted in runs, not timed. The rest
// of the bound is tested elsewhere: one failing run fails readiness at once (routes.test.ts, "fail:
// ..."), a run ends at its timeout however long the check hangs (checks.test.ts, first test).

// A clock of the test's own: performance.now() (what the runner measures a run's start and length
// by) jumps forward while the first run is in progress, as if that run had taken the whole
// interval. Measured from that run's start the next one is due at once; measured from its end it
// would be an hour away.
t.test('the next run starts one interval after the previous run began: a run that took the whole interval is followed at once', async (t) => {
  const realNow = performance.now
  let skipped = 0
  performance.now = () => realNow.call(performance) + skipped
  t.teardown(() => { performance.now = realNow })
  let calls = 0
  const { app } = await build(t, {
    checks: {
      slow: {
        interval: '1h',
        timeout: '2h',
        check: () => {
          if (++calls === 1) skipped += 3_600_000
        }
      }
    }
  })
  await app.ready()
  await waitUntil('the second run', () => calls === 2)
  t.equal(calls, 2)
  t.match(app.health.report().checks['slow:responseTime'], [{ status: 'pass' }])
  t.equal((await app.inject('/health/ready')).statusCode, 200)
})
