import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import health from '@scaleout/health'
import postgres, { type PostgresOptions } from '@scaleout/postgres'
import { appFor, logSink, type LogSink } from '../helpers/fixtures.js'
import { FreezingProxy } from '../helpers/freezing-proxy.js'
import type { PostgresCluster } from '../helpers/postgres.js'
import { sleep, waitUntil } from '../helpers/ports.js'
import { formatLsn, parseLsn } from '../../plugins/postgres/src/wal.js'
import { build, SECRET, startNotesCluster } from './setup.js'

// Lag, dead and hung hosts: one primary and one replica shared by the tests of this file, in an
// order that leaves the destructive one (the primary killed) for last.

let cluster: PostgresCluster
t.before(async () => { cluster = await startNotesCluster() })
t.teardown(async () => { await cluster.stop() })

let nextId = 1000

async function instance (t: Test, extra: Partial<PostgresOptions> = {}): Promise<{ app: FastifyInstance, logs: LogSink }> {
  const logs = logSink('info')
  const app = await build(t, {
    primary: cluster.primary.url,
    replicas: cluster.replica.url,
    secret: SECRET,
    routeHeader: true,
    sampleInterval: 100,
    maxLag: 1000,
    ...extra
  }, { logger: logs.logger })
  return { app, logs }
}

function replicaState (app: FastifyInstance): string | undefined {
  return app.db.stats().replicas[0]?.state
}

/** Steady GETs, `concurrency` at a time, until stopped; every response kept. */
function steadyLoad (app: FastifyInstance, concurrency = 4): { stop: () => Promise<Array<{ status: number, route: string, body: string }>> } {
  const state = { running: true }
  const results: Array<{ status: number, route: string, body: string }> = []
  const workers = Array.from({ length: concurrency }, async () => {
    while (state.running) {
      const res = await app.inject('/notes/1')
      results.push({ status: res.statusCode, route: String(res.headers['x-scaleout-db-route']), body: res.body })
    }
  })
  return {
    stop: async () => {
      state.running = false
      await Promise.all(workers)
      return results
    }
  }
}

t.test('a replica past maxLag leaves rotation (reads on the primary), and comes back once the delay is removed; logged once per transition', async (t) => {
  const { app, logs } = await instance(t)
  t.equal(replicaState(app), 'up')
  await cluster.replica.setApplyDelay(3000)
  await app.db.write.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [nextId++, 'lagging'])
  await waitUntil('the replica to be quarantined for lag', () => replicaState(app) === 'lag')
  const lagged = app.db.stats().replicas[0]
  t.ok((lagged?.lagMs ?? 0) > 1000, `lag ${lagged?.lagMs}ms`)
  t.ok((lagged?.lagBytes ?? 0) > 0)
  for (let i = 0; i < 5; i++) {
    const res = await app.inject('/notes/1')
    t.equal(res.headers['x-scaleout-db-route'], 'primary;reason=quarantined')
  }
  t.same(await app.db.checks.replicas(), { status: 'warn', observedValue: 0, observedUnit: 'replicas', output: 'no replica in rotation: reads run on the primary' })
  await cluster.replica.setApplyDelay(0)
  await waitUntil('the replica back in rotation', () => replicaState(app) === 'up')
  const res = await app.inject('/notes/1')
  t.equal(res.headers['x-scaleout-db-route'], 'replica;reason=replica')
  t.same(await app.db.checks.replicas(), { status: 'pass', observedValue: 1, observedUnit: 'replicas' })
  const transitions = logs.messages().filter((m) => m.startsWith('postgres: '))
  t.same(transitions, [
    'postgres: replica in rotation',
    'postgres: replica out of rotation',
    'postgres: no replica in rotation: reads go to the primary',
    'postgres: replica in rotation',
    'postgres: replicas back in rotation: reads use them again'
  ])
})

// The same by bytes alone: maxLag set as long as it goes, so only maxLagBytes can take it out.
t.test('a replica more WAL bytes behind than maxLagBytes leaves rotation, whatever maxLag says', async (t) => {
  const { app } = await instance(t, { maxLag: '1h', maxLagBytes: 4096 })
  t.equal(replicaState(app), 'up')
  await cluster.replica.setApplyDelay(3000)
  t.teardown(async () => { await cluster.replica.setApplyDelay(0) })
  // Replay stops before the first commit record it must delay; what follows it is the lag in bytes:
  // random text, which TOAST cannot compress away, tens of kilobytes of WAL.
  await app.db.write.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [nextId++, 'first'])
  await app.db.write.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [nextId++, randomBytes(32 * 1024).toString('base64')])
  await waitUntil('the replica to be quarantined for lag', () => replicaState(app) === 'lag')
  const lagged = app.db.stats().replicas[0]
  t.ok((lagged?.lagBytes ?? 0) > 4096, `${lagged?.lagBytes} bytes behind`)
  t.equal((await app.inject('/notes/1')).headers['x-scaleout-db-route'], 'primary;reason=quarantined')
  await cluster.replica.setApplyDelay(0)
  await waitUntil('the replica back in rotation', () => replicaState(app) === 'up')
  t.equal((await app.inject('/notes/1')).headers['x-scaleout-db-route'], 'replica;reason=replica')
})

t.test('an idle primary for longer than maxLag: the replica stays in rotation', async (t) => {
  const { app } = await instance(t, { maxLag: 300, sampleInterval: 50 })
  await app.db.write.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [nextId++, 'then idle'])
  await cluster.replica.waitCaughtUp(cluster.primary)
  const states = new Set<string>()
  // Nothing to wait for but time: the primary writes nothing for three times maxLag.
  const until = Date.now() + 900
  while (Date.now() < until) {
    states.add(replicaState(app) as string)
    await sleep(20)
  }
  const { rows } = await cluster.replica.query<{ ms: number }>('SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000 AS ms')
  t.ok((rows[0]?.ms ?? 0) > 300, 'by the clock of its last replayed commit the replica looks behind')
  t.same([...states], ['up'])
  t.equal(app.db.stats().replicas[0]?.lagMs, 0)
  const res = await app.inject('/notes/1')
  t.equal(res.headers['x-scaleout-db-route'], 'replica;reason=replica')
})

// After a WAL segment switch the primary's insert position sits past the new segment's header,
// and a replica's replay position stops at the boundary: compared as they were, a replica with
// nothing left to replay looked behind, and an idle primary took it out of rotation.
t.test('regression: a WAL segment switch on an idle primary leaves a caught-up replica in rotation, with no lag', async (t) => {
  const { app } = await instance(t, { maxLag: 300, sampleInterval: 50 })
  await app.db.write.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [nextId++, 'then a switch'])
  // The background writer may log a standby snapshot just after a switch (at most one per 15 s):
  // switched again, the segment stays empty.
  let offset: string | undefined
  for (let i = 0; i < 5 && offset !== '40'; i++) {
    await cluster.primary.query('SELECT pg_switch_wal()')
    await sleep(200)
    const { rows } = await cluster.primary.query<{ offset: string }>("SELECT (pg_current_wal_insert_lsn() - '0/0') % pg_size_bytes(current_setting('wal_segment_size')) AS offset")
    offset = rows[0]?.offset
  }
  t.equal(offset, '40', 'the insert position is past the new segment\'s header')
  // The replica replays up to the boundary, never to the insert position.
  const boundary = formatLsn((parseLsn(await cluster.primary.lsn()) as bigint) - 40n)
  await waitUntil('the replica at the boundary', async () => {
    const { rows } = await cluster.replica.query<{ lsn: string }>('SELECT pg_last_wal_replay_lsn()::text AS lsn')
    return rows[0]?.lsn === boundary
  }, 20_000)
  const states = new Set<string>()
  const until = Date.now() + 900
  while (Date.now() < until) {
    states.add(replicaState(app) as string)
    await sleep(20)
  }
  t.same([...states], ['up'])
  t.same([app.db.stats().replicas[0]?.lagBytes, app.db.stats().replicas[0]?.lagMs], [0, 0])
})

t.test('primary samples are kept as long as lag needs them: a replica behind an old write still counts as lagging', async (t) => {
  // keep = 2 x maxLag + 2 x sampleInterval = 120 ms: the sampler drops older samples it no longer needs.
  const { app } = await instance(t, { maxLag: 50, sampleInterval: 10 })
  const seen = async (): Promise<void> => {
    const target = await cluster.primary.lsn()
    await waitUntil('the sampler to see the write', () => app.db.stats().primary.lsn === target)
  }
  await cluster.replica.setApplyDelay(3000)
  t.teardown(async () => {
    await cluster.replica.setApplyDelay(0)
    await cluster.replica.waitCaughtUp(cluster.primary)
  })
  for (let i = 0; i < 3; i++) {
    const before = Date.now()
    await app.db.write.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [nextId++, 'old'])
    await seen()
    await waitUntil('the sample to age past keep', () => Date.now() > before + 150)
  }
  // The first sample has been dropped by now, yet the replica still misses the second one.
  await waitUntil('a round after the last write', () => (app.db.stats().replicas[0]?.lagMs ?? 0) >= 120)
  t.equal(replicaState(app), 'lag', 'still out of rotation: behind by more than the samples kept')
})

t.test('a replica killed under steady reads: 0 failed GETs, then back in rotation without restarting the app', async (t) => {
  const { app } = await instance(t)
  const load = steadyLoad(app)
  await waitUntil('reads on the replica', () => app.db.stats().routes.replica > 20)
  await cluster.replica.kill()
  await waitUntil('the replica out of rotation', () => replicaState(app) === 'down')
  const routesWhileDown = app.db.stats().routes.quarantined
  await waitUntil('reads on the primary meanwhile', () => app.db.stats().routes.quarantined > routesWhileDown + 20)
  await cluster.replica.restart()
  await waitUntil('the replica back', () => replicaState(app) === 'up', 20_000)
  const onReplica = app.db.stats().routes.replica
  await waitUntil('reads on the replica again', () => app.db.stats().routes.replica > onReplica + 20)
  const results = await load.stop()
  t.same(results.filter((r) => r.status !== 200), [], 'no failed GET (a request past its deadline would have answered 503)')
  t.ok(results.every((r) => JSON.parse(r.body).body === 'one'))
})

t.test('a replica paused (SIGSTOP) under steady reads: 0 failed GETs, reads retried within the deadline, back after SIGCONT', async (t) => {
  const { app } = await instance(t)
  await cluster.replica.waitCaughtUp(cluster.primary)
  await waitUntil('replica in rotation', () => replicaState(app) === 'up')
  const load = steadyLoad(app)
  await waitUntil('reads on the replica', () => app.db.stats().routes.replica > 20)
  cluster.replica.pause()
  try {
    await waitUntil('the replica out of rotation', () => replicaState(app) === 'down')
    const routesWhileDown = app.db.stats().routes.quarantined
    await waitUntil('reads on the primary meanwhile', () => app.db.stats().routes.quarantined > routesWhileDown + 20)
  } finally {
    cluster.replica.resume()
  }
  await waitUntil('the replica back', () => replicaState(app) === 'up', 20_000)
  const onReplica = app.db.stats().routes.replica
  await waitUntil('reads on the replica again', () => app.db.stats().routes.replica > onReplica + 20)
  const results = await load.stop()
  t.same(results.filter((r) => r.status !== 200), [], 'no failed GET')
  t.ok(app.db.stats().routes.fallback > 0, 'reads caught on the hung replica were retried on the primary')
})

// A server error's message may echo the statement's input. Read as a connection failure, a client
// choosing that input took the replicas out of rotation and turned writes into OUTCOME_UNKNOWN.
// quarantineAfter counts failed calls, requests' as well as the sampler's: with the sampler run
// only at start, three failed reads in a row take the replica out, each read retried on the primary.
t.test('quarantineAfter consecutive failed reads take a replica out of rotation, each retried on the primary', async (t) => {
  const proxy = await FreezingProxy.start(cluster.replica.port)
  t.teardown(async () => { await proxy.close() })
  const { app } = await instance(t, { replicas: cluster.replica.url.replace(/@[^/]+\//, `@127.0.0.1:${proxy.port}/`), sampleInterval: '1h', quarantineAfter: 3, timeout: 1000 })
  const replica = (): { state?: string, failures?: number } => app.db.stats().replicas[0] ?? {}
  t.same([replica().state, replica().failures], ['up', 0])
  t.equal((await app.inject('/notes/1')).headers['x-scaleout-db-route'], 'replica;reason=replica')
  await proxy.close()
  const seen: Array<[number, string, string | undefined, number | undefined]> = []
  for (let i = 0; i < 4; i++) {
    const res = await app.inject('/notes/1')
    seen.push([res.statusCode, String(res.headers['x-scaleout-db-route']), replica().state, replica().failures])
  }
  t.same(seen, [
    [200, 'primary;reason=fallback', 'up', 1],
    [200, 'primary;reason=fallback', 'up', 2],
    [200, 'primary;reason=fallback', 'down', 3],
    [200, 'primary;reason=quarantined', 'down', 3]
  ])
})

t.test('regression: a server error whose message echoes "connection error" is the caller\'s error, and the replica stays in rotation', async (t) => {
  const { app } = await instance(t)
  for (const input of ['connection error', 'Connection terminated', 'server closed the connection']) {
    const read = await app.db.read.query('SELECT body FROM notes WHERE id = $1', [input]).then(() => null, (err: { code?: string }) => err)
    t.equal(read?.code, '22P02', `read of ${JSON.stringify(input)}: pg's own error`)
    const write = await app.db.write.query('UPDATE notes SET body = $2 WHERE id = $1', [input, 'x']).then(() => null, (err: { code?: string }) => err)
    t.equal(write?.code, '22P02', `write of ${JSON.stringify(input)}: pg's own error, not an unknown outcome`)
  }
  const stats = app.db.stats()
  t.equal(replicaState(app), 'up')
  t.equal(stats.routes.fallback, 0, 'no read was retried on the primary')
})

t.test('a hot-standby conflict (40001) cancels a read on the replica: retried once on the primary', async (t) => {
  await cluster.replica.query('ALTER SYSTEM SET max_standby_streaming_delay = 0')
  await cluster.replica.query('SELECT pg_reload_conf()')
  t.teardown(async () => {
    await cluster.replica.query('ALTER SYSTEM RESET max_standby_streaming_delay')
    await cluster.replica.query('SELECT pg_reload_conf()')
  })
  await cluster.primary.query('CREATE TABLE conflicted (id int)')
  await cluster.primary.query('INSERT INTO conflicted SELECT generate_series(1, 1000)')
  await cluster.replica.waitCaughtUp(cluster.primary)
  const { app } = await instance(t, { timeout: 8000, sampleInterval: 1000 })
  const reading = app.db.read.query<{ n: string }>('SELECT count(*) AS n FROM conflicted, pg_sleep(1.5)')
  await waitUntil('the read to run on the replica', async () => (await cluster.replica.query("SELECT 1 FROM pg_stat_activity WHERE query LIKE '%FROM conflicted, pg_sleep%' AND pid <> pg_backend_pid()")).rowCount === 1)
  await cluster.primary.query('DELETE FROM conflicted')
  await cluster.primary.query('VACUUM conflicted')
  const { rows } = await reading
  t.same(rows, [{ n: '0' }], 'answered by the primary, after the delete')
  const stats = app.db.stats()
  t.equal(stats.routes.fallback, 1)
  t.equal(stats.replicas[0]?.state, 'up', 'a conflict is not the replica failing')
})

t.test('a paused primary: writes answer coded 503 within the deadline, token-less reads keep being served', async (t) => {
  const { app } = await instance(t, { timeout: 2000 })
  await waitUntil('replica in rotation', () => replicaState(app) === 'up')
  cluster.primary.pause()
  try {
    const write = await app.inject({ method: 'POST', url: '/notes', payload: { id: nextId++, body: 'lost?' } })
    t.equal(write.statusCode, 503)
    t.match(write.json().code, /^SCALEOUT_ERR_DB_(TIMEOUT|OUTCOME_UNKNOWN)$/)
    const read = await app.inject('/notes/1')
    t.equal(read.statusCode, 200)
    t.same(read.json(), { body: 'one' })
    await waitUntil('the sampler to report the primary unreachable', () => app.db.stats().primary.state === 'unreachable')
    t.equal(replicaState(app), 'up', 'an unreachable primary does not make the replica look lagged')
  } finally {
    cluster.primary.resume()
  }
  await waitUntil('the primary reachable', () => app.db.stats().primary.state === 'up')
})

t.test('the check functions work as @scaleout/health checks: replicas out of rotation warn, a paused primary fails readiness', async (t) => {
  const app = appFor(t)
  await app.register(health, { checks: {} })
  await app.register(postgres, { primary: cluster.primary.url, replicas: [cluster.replica.url], secret: SECRET, sampleInterval: 100, maxLag: 1000, timeout: 500 })
  app.health.addCheck('postgres', app.db.checks.primary, { interval: 100, timeout: 1000 })
  app.health.addCheck('postgres-replicas', app.db.checks.replicas, { critical: false, interval: 100 })
  await app.ready()
  const ready = async (): Promise<[number, string]> => {
    const res = await app.inject('/health/ready')
    return [res.statusCode, res.json().status]
  }
  await waitUntil('ready', async () => (await ready())[1] === 'pass')
  await cluster.replica.setApplyDelay(3000)
  t.teardown(async () => {
    await cluster.replica.setApplyDelay(0)
    await cluster.replica.waitCaughtUp(cluster.primary)
  })
  await app.db.write.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [nextId++, 'lag'])
  await waitUntil('replicas out of rotation: warn, still ready', async () => {
    const [status, body] = await ready()
    return status === 200 && body === 'warn'
  })
  cluster.primary.pause()
  try {
    await waitUntil('primary unreachable: not ready', async () => (await ready())[0] === 503)
  } finally {
    cluster.primary.resume()
  }
})

t.test('the primary killed: writes answer SCALEOUT_ERR_DB_UNAVAILABLE 503, token-less reads still served, the health check fails', async (t) => {
  const sink = logSink('info')
  const app = appFor(t, { logger: sink.logger })
  await app.register(postgres, { primary: cluster.primary.url, replicas: [cluster.replica.url], secret: SECRET, sampleInterval: 100 })
  app.post('/notes', async (request) => {
    const { id } = request.body as { id: number }
    await request.db.write.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [id, 'x'])
    return { ok: true }
  })
  app.get('/notes/:id', async (request) => {
    const { rows } = await request.db.read.query('SELECT body FROM notes WHERE id = $1', [Number((request.params as { id: string }).id)])
    return rows[0]
  })
  await app.ready()
  await cluster.primary.kill()
  // A write sent on a pooled connection before its close was seen is honestly "outcome unknown"
  // (api.test.ts covers that case): once the sampler has seen the primary gone, the
  // pool holds no such connection and every write is plainly unavailable.
  await waitUntil('the primary reported unreachable', () => app.db.stats().primary.state === 'unreachable')
  for (let i = 0; i < 3; i++) {
    const write = await app.inject({ method: 'POST', url: '/notes', payload: { id: nextId++ } })
    t.equal(write.statusCode, 503)
    t.same(write.json(), { statusCode: 503, code: 'SCALEOUT_ERR_DB_UNAVAILABLE', error: 'Service Unavailable', message: 'The database (primary) is unavailable; try again shortly' })
    const read = await app.inject('/notes/1')
    t.equal(read.statusCode, 200)
    t.same(read.json(), { body: 'one' })
  }
  await t.rejects(app.db.checks.primary(), { code: 'SCALEOUT_ERR_DB_UNAVAILABLE' })
  t.same(await app.db.checks.replicas(), { status: 'pass', observedValue: 1, observedUnit: 'replicas' })
  t.equal(sink.messages().filter((m) => m === 'postgres: primary unreachable').length, 1, 'logged once, not per sample')
})
