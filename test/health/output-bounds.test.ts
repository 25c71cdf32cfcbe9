import t from 'tap'
import { build } from './fixtures/app.js'

// Every /health answer serialises each check's kept result, and a check's text often comes from a
// dependency (an error page, a query result): before these bounds a check that threw a 1 MB message
// made every details answer 1 MB, and a nested object it went on changing could fail the report.

const LONG = 60_000

t.test('a check that throws a megabyte message shows its first 1024 characters and says how many more there were', async (t) => {
  const { app } = await build(t, { exposeDetails: true, checks: { db: { interval: LONG, check: async () => { throw new Error('x'.repeat(1_000_000)) } } } })
  await app.ready()
  const res = await app.inject('/health')
  t.equal(res.statusCode, 503)
  t.ok(res.body.length < 2048, `the answer is ${res.body.length} characters`)
  const report = res.json()
  t.equal(report.checks['db:responseTime'][0].output, `${'x'.repeat(1024)}… (998976 more characters)`)
  t.equal(report.checks['db:responseTime'][0].status, 'fail')
})

t.test('an observation\'s long output is clipped without splitting a surrogate pair', async (t) => {
  const { app } = await build(t, { exposeDetails: true, checks: { q: { interval: LONG, check: async () => ({ status: 'warn', output: `${'a'.repeat(1023)}😀😀` }) } } })
  await app.ready()
  t.equal(app.health.report().checks['q:responseTime']?.[0]?.output, `${'a'.repeat(1023)}… (4 more characters)`)
  t.equal(app.health.report().status, 'warn')
})

t.test('observations past the limit of a check are left out and summed up with their worst status', async (t) => {
  const many = Array.from({ length: 2000 }, (_, i) => ({ componentId: `node-${i}`, observedValue: i, note: 'y'.repeat(100) }))
  many[1999] = { ...many[1999], status: 'fail', output: 'the last node is down' } as typeof many[number]
  const { app } = await build(t, {
    exposeDetails: true,
    checks: {
      many: { interval: LONG, check: async () => many },
      huge: { interval: LONG, critical: false, check: async () => ({ observedValue: 1, blob: 'z'.repeat(2_000_000) }) }
    }
  })
  await app.ready()
  const res = await app.inject('/health')
  t.equal(res.statusCode, 503, 'the left-out failing node still fails the check')
  t.ok(res.body.length < 140_000, `the answer is ${res.body.length} characters`)
  const checks = res.json().checks
  const kept = checks['many:responseTime']
  t.ok(JSON.stringify(kept).length <= 65_536)
  t.ok(kept.length > 100 && kept.length < 2000, `${kept.length} observations kept`)
  t.same(kept[0], { status: 'pass', componentId: 'node-0', observedValue: 0, note: 'y'.repeat(100), time: kept[0].time })
  t.match(kept.at(-1), { status: 'fail', output: `${2000 - (kept.length - 1)} more observations left out: over the 65536-character limit of a check's report` })
  t.match(checks['huge:responseTime'], [{ status: 'pass', output: '1 more observation left out: over the 65536-character limit of a check\'s report' }])
})

t.test('the report keeps what a check returned, not the object it goes on changing', async (t) => {
  const stats: Record<string, unknown> = { open: 1 }
  const { app } = await build(t, { exposeDetails: true, checks: { pool: { interval: LONG, check: async () => ({ observedValue: 1, stats }) } } })
  await app.ready()
  // A value JSON cannot hold, put in after the run: the report stays answerable.
  stats.open = 2n
  const res = await app.inject('/health')
  t.equal(res.statusCode, 200)
  t.match(res.json().checks['pool:responseTime'], [{ status: 'pass', stats: { open: 1 } }])
})
