import t, { type Test } from 'tap'
import pg from 'pg'
import type { FastifyInstance } from 'fastify'
import { logSink } from '../helpers/fixtures.js'
import type { PostgresCluster, PostgresServer } from '../helpers/postgres.js'
import { waitUntil } from '../helpers/ports.js'
import { parseLsn } from '../../plugins/postgres/src/wal.js'
import { build, SECRET, startNotesCluster } from './setup.js'

// A pool kept busy by a client's slow statements says nothing about its host's health. The
// sampler reads every host on a connection of its own, so it never waits behind statements, and a
// read whose wait for a busy pool times out is tried elsewhere without counting against the host.

let cluster: PostgresCluster
t.before(async () => { cluster = await startNotesCluster() })
t.teardown(async () => { await cluster.stop() })

let nextId = 5000

/** As slow as the client asks: past any budget here, and cancelled by the server at once. */
const SLOW = 'SELECT pg_sleep($1::int)::text AS c'

/** Waits until the sampler has read the replica at or past what it has replayed now. */
async function replicaSampled (app: FastifyInstance): Promise<void> {
  await cluster.primary.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [nextId++, 'sampled'])
  await cluster.replica.waitCaughtUp(cluster.primary)
  const target = parseLsn(await cluster.replica.lsn()) as bigint
  await waitUntil('the sampler to read the replica\'s new position', () => (parseLsn(app.db.stats().replicas[0]?.lsn) ?? 0n) >= target)
}

/** Backends of connections that name `application` (the app's, and nothing else's). */
async function backends (server: PostgresServer, application: string): Promise<number[]> {
  const { rows } = await server.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid', [application])
  return rows.map((r) => r.pid)
}

/** A pool of the test's own, ended after the app is closed (the plugin never ends a pool it was given). */
function poolFor (t: Test, config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config)
  pool.on('error', () => {})
  t.teardown(async () => { await pool.end() })
  return pool
}

t.test('regression: a client\'s slow statements filling a replica\'s pool leave the replica in rotation, and its samples go on', async (t) => {
  const logs = logSink('info')
  const app = await build(t, {
    primary: cluster.primary.url,
    replicas: cluster.replica.url,
    secret: SECRET,
    routeHeader: true,
    timeout: '1s',
    sampleInterval: 50,
    poolSize: 2,
    quarantineAfter: 2
  }, { logger: logs.logger }, (app) => {
    app.get('/report', async (request) => {
      const { rows } = await request.db.read.query<{ c: string }>(SLOW, [Number((request.query as { n: string }).n)])
      return { count: rows[0]?.c }
    })
  })
  const replica = (): { state?: string, failures?: number } => app.db.stats().replicas[0] ?? {}
  t.equal(replica().state, 'up')

  // Four times as many clients as the pool has connections, each asking for slow reports in a loop:
  // the pool is always full and every read waits for it.
  const storm = { running: true }
  const slowReads = [0, 0, 0, 0, 0, 0, 0, 0]
  const answers = new Set<string>()
  const clients = slowReads.map(async (_, i) => {
    while (storm.running) {
      const res = await app.inject('/report?n=30')
      answers.add(`${res.statusCode} ${String(res.json().code)}`)
      slowReads[i] = (slowReads[i] as number) + 1
    }
  })
  const states = new Set<string | undefined>()
  const watch = setInterval(() => { states.add(replica().state) }, 5)
  try {
    await waitUntil('three slow reads by every client', () => slowReads.every((n) => n >= 3), 60_000)
    await replicaSampled(app)
  } finally {
    storm.running = false
    await Promise.all(clients)
    clearInterval(watch)
  }
  t.same([...answers], ['503 SCALEOUT_ERR_DB_TIMEOUT'], 'each slow report fails on its own deadline')
  t.same([...states], ['up'], 'the replica never left rotation')
  t.equal(replica().failures, 0)
  t.same(logs.messages().filter((m) => m.startsWith('postgres: ')), ['postgres: replica in rotation'], 'nothing went out of rotation, nor looked unreachable')
  const other = await app.inject('/notes/1')
  t.same([other.json(), other.headers['x-scaleout-db-route']], [{ body: 'one' }, 'replica;reason=replica'], 'another client reads on the replica')
})

t.test('regression: the sampler reads each host on a connection of its own, never one from the pools that serve statements; re-opened when lost, closed with the app', async (t) => {
  const application = 'busy-pool-own-connection'
  const app = await build(t, {
    primary: { connectionString: cluster.primary.url, application_name: application },
    replicas: { connectionString: cluster.replica.url, application_name: application },
    secret: SECRET,
    sampleInterval: 50
  })
  await replicaSampled(app)
  const stats = app.db.stats()
  const empty = { total: 0, idle: 0, waiting: 0 }
  t.same([stats.primary.pool, stats.replicas[0]?.pool], [empty, empty], 'no connection taken from the statements\' pools')
  t.same([stats.primary.state, stats.replicas[0]?.state], ['up', 'up'])
  const [sampler] = await backends(cluster.replica, application)
  t.equal((await backends(cluster.replica, application)).length, 1, 'one connection to the replica: the sampler\'s')
  t.equal((await backends(cluster.primary, application)).length, 1, 'one to the primary: its position reads and samples')

  // The server ends the sampler's connection: the next samples open another.
  await cluster.replica.query('SELECT pg_terminate_backend($1)', [sampler])
  await waitUntil('another connection for the sampler', async () => {
    const now = await backends(cluster.replica, application)
    return now.length === 1 && now[0] !== sampler
  })
  await replicaSampled(app)
  t.equal(app.db.stats().replicas[0]?.state, 'up')
  t.same(app.db.stats().replicas[0]?.pool, empty)

  await app.close()
  await waitUntil('every connection of the app closed', async () => (await backends(cluster.replica, application)).length === 0 && (await backends(cluster.primary, application)).length === 0)
})

// The primary's pool is held by transactions for as long as `transactionTimeout`: sampled from it,
// the primary looked unreachable, and its position stood still, all the while they ran.
t.test('regression: transactions holding every connection of the primary\'s pool leave its samples untouched', async (t) => {
  const logs = logSink('info')
  const app = await build(t, {
    primary: { connectionString: cluster.primary.url, max: 1 },
    replicas: cluster.replica.url,
    secret: SECRET,
    sampleInterval: 50,
    timeout: 300
  }, { logger: logs.logger })
  let finish!: () => void
  const holding = new Promise<void>((resolve) => { finish = resolve })
  let began!: () => void
  const begun = new Promise<void>((resolve) => { began = resolve })
  const transaction = app.db.transaction(async () => {
    began()
    await holding
    return 'done'
  })
  try {
    await begun
    t.same(app.db.stats().primary.pool, { total: 1, idle: 0, waiting: 0 }, 'the pool\'s one connection is in the transaction')
    const before = parseLsn(await cluster.primary.lsn()) as bigint
    await cluster.primary.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [nextId++, 'while held'])
    await waitUntil('the sampler to read the primary\'s new position', () => (parseLsn(app.db.stats().primary.lsn) ?? 0n) > before)
    t.match(app.db.stats().primary, { state: 'up', failures: 0 })
  } finally {
    finish()
  }
  t.equal(await transaction, 'done')
  t.same(logs.messages().filter((m) => m.startsWith('postgres: primary')), [], 'the primary never logged unreachable')
})

t.test('regression: a read that times out waiting for a full pool is tried elsewhere and does not count against the replica', async (t) => {
  const replicaPool = poolFor(t, { ...cluster.replica.config, max: 1 })
  const app = await build(t, {
    primary: cluster.primary.url,
    replicas: replicaPool,
    secret: SECRET,
    routeHeader: true,
    timeout: 1000,
    sampleInterval: '1h',
    quarantineAfter: 2
  })
  const replica = (): { state?: string, failures?: number } => app.db.stats().replicas[0] ?? {}
  t.same([replica().state, replica().failures], ['up', 0])
  // The pool's only connection, held by other code of the application.
  const held = await replicaPool.connect()
  const seen: Array<[number, unknown, string | undefined, number | undefined]> = []
  try {
    for (let i = 0; i < 3; i++) {
      const res = await app.inject('/notes/1')
      seen.push([res.statusCode, res.headers['x-scaleout-db-route'], replica().state, replica().failures])
    }
  } finally {
    held.release()
  }
  t.same(seen, [
    [200, 'primary;reason=fallback', 'up', 0],
    [200, 'primary;reason=fallback', 'up', 0],
    [200, 'primary;reason=fallback', 'up', 0]
  ])
  t.equal((await app.inject('/notes/1')).headers['x-scaleout-db-route'], 'replica;reason=replica')
})

// What still counts: a wait for a new connection to a replica that does not answer (SIGSTOP: the
// kernel accepts, the server says nothing).
t.test('a read that times out waiting for a new connection to a hung replica counts against it', async (t) => {
  const app = await build(t, {
    primary: cluster.primary.url,
    replicas: cluster.replica.url,
    secret: SECRET,
    routeHeader: true,
    timeout: 1000,
    sampleInterval: '1h',
    quarantineAfter: 2
  })
  const replica = (): { state?: string, failures?: number } => app.db.stats().replicas[0] ?? {}
  t.same([replica().state, replica().failures, app.db.stats().replicas[0]?.pool.total], ['up', 0, 0])
  const seen: Array<[number, unknown, string | undefined, number | undefined]> = []
  cluster.replica.pause()
  try {
    for (let i = 0; i < 3; i++) {
      const res = await app.inject('/notes/1')
      seen.push([res.statusCode, res.headers['x-scaleout-db-route'], replica().state, replica().failures])
    }
  } finally {
    cluster.replica.resume()
  }
  t.same(seen, [
    [200, 'primary;reason=fallback', 'up', 1],
    [200, 'primary;reason=fallback', 'down', 2],
    [200, 'primary;reason=quarantined', 'down', 2]
  ])
})
