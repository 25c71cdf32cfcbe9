import t from 'tap'
import { sleep, waitUntil } from '../helpers/index.js'
import { build, controlled } from './fixtures/app.js'

const LONG = 60_000

t.test('a check that hangs fails at its timeout, and is not started again while its last run is unsettled', async (t) => {
  let calls = 0
  let release: () => void = () => {}
  const { app } = await build(t, {
    checks: {
      slow: {
        timeout: 50,
        interval: LONG,
        check: async () => {
          calls++
          if (calls === 1) await new Promise<void>((resolve) => { release = resolve })
        }
      }
    }
  })
  await app.ready()
  t.match(app.health.report().checks['slow:responseTime'], [{ status: 'fail', output: 'check timed out after 50ms', observedUnit: 'ms' }])
  t.equal(app.health.report().status, 'fail')

  await app.health.refresh()
  t.match(app.health.report().checks['slow:responseTime'], [{ status: 'fail', output: /^previous run still pending after \d+ms; not started again$/ }])
  t.equal(calls, 1, 'no second call piled on the hung one')

  release()
  // The hung run settles a tick after release; until then a refresh still reports it as stuck.
  await waitUntil('the released run settles and the check runs again', async () => {
    await app.health.refresh()
    return calls === 2
  }, 10_000)
  t.equal(calls, 2)
  t.match(app.health.report().checks['slow:responseTime'], [{ status: 'pass' }])
})

t.test('the timeout aborts the signal given to the check with the coded timeout error', async (t) => {
  let seen: unknown
  const { app } = await build(t, {
    checks: {
      abortable: {
        timeout: 30,
        interval: LONG,
        check: async (signal: AbortSignal) => await new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            seen = signal.reason
            reject(new Error('aborted by the plugin'))
          })
        })
      }
    }
  })
  await app.ready()
  t.match(seen, { code: 'SCALEOUT_ERR_HEALTH_CHECK_TIMEOUT', message: 'check timed out after 30ms' })
  t.equal(app.health.report().checks['abortable:responseTime']?.[0]?.status, 'fail')
  await app.health.refresh()
  t.notMatch(app.health.report().checks['abortable:responseTime'], [{ output: /still pending/ }], 'a check that settles on abort is run again')
})

t.test('what a check returns becomes its observations', async (t) => {
  const cases: Array<[string, () => unknown, unknown]> = [
    ['nothing', () => undefined, [{ status: 'pass', observedUnit: 'ms' }]],
    ['null', () => null, [{ status: 'pass', observedUnit: 'ms' }]],
    ['true', () => true, [{ status: 'pass', observedUnit: 'ms' }]],
    ['an empty array', () => [], [{ status: 'pass', observedUnit: 'ms' }]],
    ['false', () => false, [{ status: 'fail', output: 'check returned false' }]],
    ['a string', () => 'ok', [{ status: 'fail', output: 'check returned neither nothing, an observation object nor an array of them' }]],
    ['an array with a non-object', () => [{ status: 'pass' }, 3], [{ status: 'fail', output: /^check returned neither/ }]],
    ['an unknown status', () => ({ status: 'ok' }), [{ status: 'fail', output: 'check reported the unknown status "ok"' }]],
    // Once made the report unserialisable: every /health answer was a 500.
    ['an observation JSON cannot hold', () => ({ observedValue: 12n }), [{ status: 'fail', output: 'check returned an observation that is not JSON: Do not know how to serialize a BigInt', observedUnit: 'ms' }]],
    ['a synchronous throw', () => { throw new Error('boom') }, [{ status: 'fail', output: 'boom' }]],
    // Some libraries reject with strings; the output still says what happened.
    ['a rejected non-error', async () => await new Promise((_resolve, reject) => { reject(Object.assign(Object.create(null), { toString: () => 'plain string' })) }), [{ status: 'fail', output: 'plain string' }]],
    ['observations', () => [
      { componentId: 'a', componentType: 'datastore', observedValue: 3, observedUnit: 'connections', status: 'pass' },
      { componentId: 'b', status: 'warn', output: 'slow' }
    ], [
      { status: 'pass', componentId: 'a', componentType: 'datastore', observedValue: 3, observedUnit: 'connections' },
      { status: 'warn', componentId: 'b', output: 'slow', observedUnit: 'ms' }
    ]]
  ]
  for (const [what, check, expected] of cases) {
    const { app } = await build(t, { checks: { c: { check, interval: LONG } } })
    await app.ready()
    const observations = app.health.report().checks['c:responseTime']
    t.match(observations, expected, what)
    t.equal(observations?.length, (expected as unknown[]).length, `${what}: one observation each`)
    for (const o of observations ?? []) t.match(o.time, /Z$/, `${what}: time set`)
    await app.close()
  }
})

t.test('the worst observation is the check status; critical decides between fail and warn', async (t) => {
  const { app } = await build(t, {
    checks: {
      mixed: { check: () => [{ status: 'pass' }, { status: 'fail' }], interval: LONG, critical: false },
      custom: { check: () => ({ observedValue: 12, observedUnit: 'connections' }), interval: LONG, measurement: 'connections' }
    }
  })
  await app.ready()
  const report = app.health.report()
  t.equal(report.status, 'warn')
  t.same(Object.keys(report.checks), ['mixed:responseTime', 'custom:connections'])
  t.match(report.checks['custom:connections'], [{ status: 'pass', observedValue: 12, observedUnit: 'connections' }])
})

t.test('checks run in the background on their interval and stop when the server closes', async (t) => {
  const ticking = controlled('pass')
  const { app } = await build(t, { checks: { ticking: { check: ticking.check, interval: 30 } } })
  await app.ready()
  await waitUntil('three background runs', () => ticking.calls() >= 3, 10_000)
  await app.close()
  const after = ticking.calls()
  // Nothing to wait for: five intervals pass without a run.
  await sleep(150)
  t.equal(ticking.calls(), after, 'no run after close')
})

t.test('a run still in flight when the server closes ends with the close without scheduling another', async (t) => {
  let calls = 0
  let finish: () => void = () => {}
  const { app } = await build(t, {})
  await app.ready()
  app.health.addCheck('closing', async () => {
    calls++
    await new Promise<void>((resolve) => { finish = resolve })
  }, { interval: 10, timeout: 5000 })
  await waitUntil('the check is running', () => calls === 1, 5000)
  await app.close()
  // close-ends-checks.test.ts: the run ends at close instead of at its timeout.
  t.match(app.health.report().checks['closing:responseTime'], [{ status: 'fail', output: 'check cancelled: the server is closing' }])
  finish()
  // Nothing to wait for: ten intervals pass without a run.
  await sleep(100)
  t.equal(calls, 1, 'not run again after close')
})

t.test('a background failure flips readiness without any probe triggering a run', async (t) => {
  const dep = controlled('pass')
  const { app } = await build(t, { checks: { dep: { check: dep.check, interval: 30 } } })
  await app.ready()
  dep.set('fail')
  await waitUntil('readiness fails', async () => (await app.inject('/health/ready')).statusCode === 503, 10_000)
  dep.set('pass')
  await waitUntil('readiness recovers', async () => (await app.inject('/health/ready')).statusCode === 200, 10_000)
  t.pass('flipped both ways on the background schedule')
})

t.test('addCheck: runs at once after ready, validates, refuses duplicates; refresh joins a run in progress', async (t) => {
  const { app } = await build(t, { checks: { first: { check: () => true, interval: LONG } }, eventLoopDelay: {} })
  await app.ready()
  let calls = 0
  let finish: () => void = () => {}
  app.health.addCheck('later', async () => {
    calls++
    await new Promise<void>((resolve) => { finish = resolve })
  }, { interval: LONG, timeout: 5000, critical: false })
  t.equal(calls, 0, 'not synchronously')
  await waitUntil('the added check started', () => calls === 1, 5000)
  t.equal(app.health.report().status, 'warn', 'pending and not critical')
  const refreshed = app.health.refresh()
  finish()
  await refreshed
  t.equal(calls, 1, 'refresh awaited the run in progress instead of starting another')
  t.match(app.health.report().checks['later:responseTime'], [{ status: 'pass' }])
  t.equal(app.health.report().status, 'pass')

  t.throws(() => app.health.addCheck('first', () => true), { code: 'SCALEOUT_ERR_HEALTH_DUPLICATE_CHECK', message: '@scaleout/health: a check named "first" exists already' })
  t.throws(() => app.health.addCheck('eventLoop', () => true), { code: 'SCALEOUT_ERR_HEALTH_DUPLICATE_CHECK' })
  t.throws(() => app.health.addCheck('no spaces', () => true), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `name` is invalid/ })
  t.throws(() => app.health.addCheck('x', 'nope' as unknown as () => void), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `check` is invalid: expected a function/ })
  t.throws(() => app.health.addCheck('y', () => true, { timeout: -1 }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `options.timeout` is invalid/ })
  t.throws(() => app.health.addCheck('z', () => true, { timeoutMs: 500 } as never), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `options.timeoutMs` is invalid: expected no such option: did you mean `timeout`\?/ })
})

t.test('a user check may not take the name of a built-in check', async (t) => {
  await t.rejects(async () => { await build(t, { eventLoopDelay: {}, checks: { eventLoop: () => true } }) }, { code: 'SCALEOUT_ERR_HEALTH_DUPLICATE_CHECK' })
  await t.rejects(async () => { await build(t, { heap: true, checks: { heap: () => true } }) }, { code: 'SCALEOUT_ERR_HEALTH_DUPLICATE_CHECK' })
  await t.rejects(async () => { await build(t, { redis: 'redis://127.0.0.1:1', checks: { redis: () => true } }) }, { code: 'SCALEOUT_ERR_HEALTH_DUPLICATE_CHECK', message: /"redis"/ })
})

// Fastify fails ready() and listen() when an onReady hook takes longer than pluginTimeout (10 s by
// default): a check timeout above it, with the dependency hanging at start-up, kept the app from
// starting at all.
t.test('a first run that would outlast Fastify\'s pluginTimeout lets the server start, failing readiness until it ends', async (t) => {
  const dep = controlled('hang')
  const { app } = await build(t, { checks: { dep: { check: dep.check, interval: LONG, timeout: '2s' } } }, { pluginTimeout: 500 })
  await app.ready()
  const ready = await app.inject('/health/ready')
  t.same([ready.statusCode, ready.json()], [503, { status: 'fail', output: 'starting' }])
  t.match(app.health.report().checks['dep:responseTime'], [{ status: 'fail', output: 'not checked yet' }])
  await waitUntil('the first run times out', () => app.health.report().checks['dep:responseTime']?.[0]?.output === 'check timed out after 2000ms', 10_000)
  t.equal((await app.inject('/health/ready')).statusCode, 503)
})

t.test('with pluginTimeout 0 (no limit), onReady waits for the whole first run', async (t) => {
  let started = false
  let finish = (): void => {}
  const check = async (): Promise<void> => {
    started = true
    await new Promise<void>((resolve) => { finish = resolve })
  }
  const { app } = await build(t, { checks: { dep: { check, interval: LONG, timeout: '2s' } } }, { pluginTimeout: 0 })
  let ready = false
  const starting = app.ready().then(() => { ready = true })
  await waitUntil('the first run started', () => started)
  await sleep(20)
  t.equal(ready, false, 'still waiting for the check')
  finish()
  await starting
  t.equal((await app.inject('/health/ready')).statusCode, 200)
})
