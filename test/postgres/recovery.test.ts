import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { logSink } from '../helpers/fixtures.js'
import { FreezingProxy } from '../helpers/freezing-proxy.js'
import type { PostgresCluster } from '../helpers/postgres.js'
import { waitUntil } from '../helpers/ports.js'
import { parseLsn } from '../../plugins/postgres/src/wal.js'
import { build, SECRET, startNotesCluster } from './setup.js'

// How a host comes back: a quarantined replica after `recoverAfter` good samples under half the
// limits, and the primary's return logged once. Samples are counted, not timed: each test hands the
// plugin a pg.Pool of its own for the replica, and with no request reading, every connection taken
// from it is one sample, so its `acquire` event marks the start of each sample. A host fails by
// having its connections reset and new ones closed (a proxy in front of it), so that failed samples
// fail at once, and `timeout` is generous: on a loaded machine a good sample that took longer than a
// tight deadline would fail, and the counts would be off.

/** Far longer than a sample takes on a loaded machine; nothing in these tests waits for it to pass. */
const TIMEOUT = '20s'

let cluster: PostgresCluster
t.before(async () => { cluster = await startNotesCluster() })
t.teardown(async () => { await cluster.stop() })

let nextId = 3000

/** A pool of the test's own, ended after the app is closed (the plugin never ends a pool it was given). */
function poolFor (t: Test, config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config)
  // Once the app has closed, its listener is gone: a connection dropped then must not crash the test.
  pool.on('error', () => {})
  t.teardown(async () => { await pool.end() })
  return pool
}

t.test('recoverAfter: a replica taken out after failed samples is back in rotation on the recoverAfter-th good sample, not before', async (t) => {
  const proxy = await FreezingProxy.start(cluster.replica.port)
  t.teardown(async () => { await proxy.close() })
  const replica = poolFor(t, { ...cluster.replica.config, host: '127.0.0.1', port: proxy.port })
  const logs = logSink('info')
  const app = await build(t, {
    primary: cluster.primary.url,
    replicas: replica,
    secret: SECRET,
    routeHeader: true,
    sampleInterval: 50,
    timeout: TIMEOUT,
    quarantineAfter: 2,
    recoverAfter: 3
  }, { logger: logs.logger })
  const state = (): string | undefined => app.db.stats().replicas[0]?.state
  t.equal(state(), 'up')

  // The state as each sample begins: what the samples before it made of the replica.
  const atSample: Array<string | undefined> = []
  let recording = false
  replica.on('acquire', () => { if (recording) atSample.push(state()) })
  // Its one connection is reset, and new ones are closed at once: every sample fails.
  proxy.refuseNew()
  t.equal(proxy.dropAll(), 1, 'the sampler\'s connection')
  await waitUntil('the replica out of rotation, its connection gone', () => state() === 'down' && replica.totalCount === 0, 60_000)
  recording = true
  proxy.acceptNew()
  await waitUntil('four good samples begun', () => atSample.length >= 4, 60_000)
  recording = false
  t.same(atSample.slice(0, 4), ['down', 'down', 'down', 'up'], 'out after the 1st and 2nd good samples, back after the 3rd')

  t.equal((await app.inject('/notes/1')).headers['x-scaleout-db-route'], 'replica;reason=replica')
  t.same(logs.messages().filter((m) => m.includes('rotation')), [
    'postgres: replica in rotation',
    'postgres: replica out of rotation',
    'postgres: no replica in rotation: reads go to the primary',
    'postgres: replica in rotation',
    'postgres: replicas back in rotation: reads use them again'
  ])
})

t.test('recoverAfter counts consecutive good samples: a failed sample between good ones starts the count over', async (t) => {
  const proxy = await FreezingProxy.start(cluster.replica.port)
  t.teardown(async () => { await proxy.close() })
  const replica = poolFor(t, { ...cluster.replica.config, host: '127.0.0.1', port: proxy.port })
  const app = await build(t, {
    primary: cluster.primary.url,
    replicas: replica,
    secret: SECRET,
    sampleInterval: 50,
    timeout: TIMEOUT,
    quarantineAfter: 1,
    recoverAfter: 3
  })
  const state = (): string | undefined => app.db.stats().replicas[0]?.state
  proxy.refuseNew()
  t.equal(proxy.dropAll(), 1, 'the sampler\'s connection')
  await waitUntil('the replica out of rotation, its connection gone', () => state() === 'down' && replica.totalCount === 0, 60_000)

  // Sample 1 is good; sample 2 gets its connection and then loses it, so it fails (and the samples
  // until the proxy accepts again fail too); from then on, every sample is good.
  const atSample: Array<string | undefined> = []
  let failedOne = false
  replica.on('acquire', () => {
    atSample.push(state())
    if (atSample.length === 2) {
      proxy.refuseNew()
      proxy.dropAll()
      failedOne = true
    }
  })
  proxy.acceptNew()
  await waitUntil('the second sample begun and its connection reset', () => failedOne, 60_000)
  await waitUntil('its connection gone', () => replica.totalCount === 0, 60_000)
  proxy.acceptNew()
  await waitUntil('a sample begun with the replica back in rotation', () => atSample.at(-1) === 'up', 60_000)
  t.same(atSample, ['down', 'down', 'down', 'down', 'down', 'up'], 'the good sample before the failure does not count: three more are needed')
})

// "Good" is under half the limits: a replica within maxLagBytes but over half of it stays out,
// sample after sample, and only samples under half count towards recoverAfter. Bytes, not time,
// so the lag is exact: maxLag is as long as it goes.
t.test('recoverAfter counts only samples under half of maxLagBytes: one within the limit but over half stays out of rotation', async (t) => {
  await cluster.replica.setApplyDelay(60_000)
  t.teardown(async () => {
    await cluster.replica.setApplyDelay(0)
    await cluster.replica.waitCaughtUp(cluster.primary, 60_000)
  })
  const start = parseLsn(await cluster.primary.lsn()) as bigint
  // Replay stops before the first commit it must delay: everything after it (tens of kilobytes of
  // random text, which TOAST cannot compress) is the lag in bytes.
  await cluster.primary.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [nextId++, 'first'])
  await cluster.primary.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [nextId++, randomBytes(32 * 1024).toString('base64')])
  // The replica's startup process waits out the delay: replay stands still until it is lifted.
  await waitUntil('replay to stop before the delayed commit', async () => {
    const { rows } = await cluster.replica.query<{ waiting: boolean }>("SELECT wait_event = 'RecoveryApplyDelay' AS waiting FROM pg_stat_activity WHERE backend_type = 'startup'")
    return rows[0]?.waiting === true
  }, 60_000)
  const replay = parseLsn(await cluster.replica.lsn()) as bigint
  t.ok(replay > start, 'the first insert replayed')
  const behind = Number((parseLsn(await cluster.primary.lsn()) as bigint) - replay)
  // The replica is two thirds of the limit behind: within it, over half of it.
  const maxLagBytes = Math.round(behind * 1.5)

  const replica = poolFor(t, cluster.replica.config)
  const app = await build(t, {
    primary: cluster.primary.url,
    replicas: replica,
    secret: SECRET,
    routeHeader: true,
    maxLag: '1h',
    maxLagBytes,
    sampleInterval: 50,
    timeout: TIMEOUT,
    recoverAfter: 3
  })
  const stats = (): { state: string, lagBytes: number } => {
    const { state, lagBytes } = app.db.stats().replicas[0] ?? { state: 'missing', lagBytes: -1 }
    return { state, lagBytes }
  }
  const overHalf = (lagBytes: number): boolean => lagBytes > maxLagBytes / 2 && lagBytes <= maxLagBytes
  t.equal(stats().state, 'lag', 'first sampled over half the limit: not admitted')
  t.ok(overHalf(stats().lagBytes), `${stats().lagBytes} bytes behind, maxLagBytes ${maxLagBytes}`)
  t.equal((await app.inject('/notes/1')).headers['x-scaleout-db-route'], 'primary;reason=quarantined')

  // State and lag as each sample begins: what the previous sample found.
  const atSample: Array<{ state: string, lagBytes: number }> = []
  let recording = true
  replica.on('acquire', () => { if (recording) atSample.push(stats()) })
  await waitUntil('three samples over half the limit', () => atSample.length >= 3, 60_000)
  await cluster.replica.setApplyDelay(0)
  await waitUntil('a sample begun after the replica is back', () => atSample.at(-1)?.state === 'up', 60_000)
  recording = false

  const firstGood = atSample.findIndex((s) => s.lagBytes <= maxLagBytes / 2)
  t.ok(firstGood >= 3, `${firstGood} samples over half the limit`)
  t.same(atSample.slice(0, firstGood).filter((s) => !(s.state === 'lag' && overHalf(s.lagBytes))), [], 'each over half and within the limit: out of rotation')
  t.same(atSample.slice(firstGood, firstGood + 3).map((s) => s.lagBytes <= maxLagBytes / 2), [true, true, true])
  t.same(atSample.slice(firstGood, firstGood + 3).map((s) => s.state), ['lag', 'lag', 'up'], 'back on the 3rd sample under half')
  t.equal((await app.inject('/notes/1')).headers['x-scaleout-db-route'], 'replica;reason=replica')
})

t.test('the primary unreachable and reachable again: each transition logged once', async (t) => {
  const proxy = await FreezingProxy.start(cluster.primary.port)
  t.teardown(async () => { await proxy.close() })
  const replica = poolFor(t, cluster.replica.config)
  const logs = logSink('info')
  const app = await build(t, {
    primary: { ...cluster.primary.config, port: proxy.port },
    replicas: replica,
    secret: SECRET,
    sampleInterval: 50,
    timeout: TIMEOUT
  }, { logger: logs.logger })
  // Each round samples the replica too: its samples count the rounds.
  let rounds = 0
  replica.on('acquire', () => { rounds++ })
  proxy.refuseNew()
  proxy.dropAll()
  try {
    await waitUntil('the primary unreachable', () => app.db.stats().primary.state === 'unreachable', 60_000)
    await waitUntil('three failed samples of it', () => app.db.stats().primary.failures >= 3, 60_000)
  } finally {
    proxy.acceptNew()
  }
  await waitUntil('the primary reachable', () => app.db.stats().primary.state === 'up', 60_000)
  const back = rounds
  await waitUntil('three more rounds', () => rounds >= back + 3, 60_000)
  t.equal(app.db.stats().primary.state, 'up')
  t.same(logs.messages().filter((m) => m.startsWith('postgres: primary')), [
    'postgres: primary unreachable',
    'postgres: primary reachable again'
  ])
  const unreachable = logs.lines.find((l) => l.msg === 'postgres: primary unreachable')
  const reachable = logs.lines.find((l) => l.msg === 'postgres: primary reachable again')
  t.same([unreachable?.level, unreachable?.host, reachable?.level, reachable?.host], [40, 'primary', 30, 'primary'], 'a warning, then info, naming the host')
})
