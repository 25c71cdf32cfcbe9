import { createServer, type Server, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import { PgBouncer, pgbouncerVersion } from '../helpers/pgbouncer.js'
import { DATABASE, USER, type PostgresCluster, type PostgresServer } from '../helpers/postgres.js'
import { freePort, waitUntil } from '../helpers/ports.js'
import { build, NOTES, SECRET, startNotesCluster } from './setup.js'

// A statement past its deadline is cancelled on the server (PostgreSQL's CancelRequest), not only
// cut off on our side: destroying the connection alone leaves the backend running it, holding its
// locks, until it next writes to the socket. Directly and through PgBouncer.
//
// Nothing here is timed. Deadlines are generous (a loaded machine may take a while to connect, and a
// statement must be sent before its deadline for there to be anything to cancel), statements sleep
// far longer than any wait here, and every wait is for a condition, with room to spare.

/** The deadline of the calls that overrun: long enough to connect and send on a loaded machine. */
const TIMEOUT = '2s'
/** How long a test waits for the server to act on a cancel, or a connection to go: never needed in full. */
const PATIENCE = 30_000

let cluster: PostgresCluster
let bouncer: PgBouncer
t.before(async () => {
  cluster = await startNotesCluster()
  bouncer = await PgBouncer.start(cluster.primary, cluster.replica)
  const setup = new pg.Client({ connectionString: bouncer.primaryUrl })
  await setup.connect()
  await setup.query(NOTES)
  await setup.query("INSERT INTO notes (id, body) VALUES (1, 'one') ON CONFLICT DO NOTHING")
  await setup.end()
  await cluster.replica.waitCaughtUp(cluster.primary)
})
t.teardown(async () => {
  await bouncer.stop()
  await cluster.stop()
})

/** Backends on `server` (any database) running a statement that contains `marker`, the test's own excepted. */
async function running (server: PostgresServer, marker: string): Promise<number> {
  const { rows } = await server.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' AND state = 'active' AND pid <> pg_backend_pid()", [marker])
  return rows[0]?.n as number
}

async function noneRunning (t: Test, server: PostgresServer, marker: string): Promise<void> {
  await waitUntil(`no backend running ${marker}`, async () => await running(server, marker) === 0, PATIENCE)
  t.equal(await running(server, marker), 0, `no backend left running ${marker}`)
}

t.test('a read and a write past their deadline are cancelled on the server: no backend is left running them, the pool stays bounded', async (t) => {
  const app = await build(t, { primary: cluster.primary.url, replicas: cluster.replica.url, secret: SECRET, timeout: TIMEOUT, poolSize: 2, sampleInterval: '1h' })
  t.equal(app.db.stats().replicas[0]?.state, 'up')
  const [read, write] = await Promise.allSettled([
    app.db.read.query('SELECT pg_sleep(30) /* cancel-read */'),
    app.db.write.query('SELECT pg_sleep(30) /* cancel-write */')
  ])
  t.match(read, { status: 'rejected', reason: { code: 'SCALEOUT_ERR_DB_TIMEOUT', statusCode: 503 } })
  t.match(write, { status: 'rejected', reason: { code: 'SCALEOUT_ERR_DB_OUTCOME_UNKNOWN', cause: { code: 'SCALEOUT_ERR_DB_TIMEOUT' } } })
  // The read overran on the replica (and, when the replica did not answer its cancel in time, on the primary): cancelled.
  await noneRunning(t, cluster.replica, 'cancel-read')
  await noneRunning(t, cluster.primary, 'cancel-read')
  await noneRunning(t, cluster.primary, 'cancel-write')

  // Waves of overrunning statements no longer pile up backends beyond poolSize.
  for (let wave = 0; wave < 3; wave++) {
    const results = await Promise.allSettled([1, 2].map(async () => await app.db.write.query('SELECT pg_sleep(30) /* cancel-waves */')))
    t.same(results.map((r) => r.status), ['rejected', 'rejected'])
  }
  await noneRunning(t, cluster.primary, 'cancel-waves')
  await waitUntil('the pool to have destroyed every cancelled connection', () => app.db.stats().primary.pool.total === 0, PATIENCE)
  const { rows } = await app.db.write.query<{ ok: number }>('SELECT 1 AS ok')
  t.same(rows, [{ ok: 1 }], 'the pool serves again')
})

/**
 * An app whose calls wait up to 20 s, less than the 30 s the overrunning statements sleep: a row lock
 * they held until they ended would make its UPDATE fail.
 */
async function patient (t: Test, primary: string): Promise<FastifyInstance> {
  return await build(t, { primary, timeout: '20s', sampleInterval: '1h' })
}

t.test('a row lock taken in a transaction is released when a later statement in it overruns', async (t) => {
  const app = await build(t, { primary: cluster.primary.url, timeout: TIMEOUT, sampleInterval: '1h' })
  await t.rejects(app.db.transaction(async (tx) => {
    await tx.query("UPDATE notes SET body = 'locked' WHERE id = 1")
    await tx.query('SELECT pg_sleep(30) /* cancel-tx */')
  }), { code: 'SCALEOUT_ERR_DB_TIMEOUT' })
  const { rowCount } = await (await patient(t, cluster.primary.url)).db.write.query("UPDATE notes SET body = 'after' WHERE id = 1")
  t.equal(rowCount, 1, 'the next UPDATE of the row got its lock long before the statement would have ended')
  await noneRunning(t, cluster.primary, 'cancel-tx')
  const { rows } = await cluster.primary.query('SELECT body FROM notes WHERE id = 1')
  t.same(rows, [{ body: 'after' }], 'the overrun transaction was rolled back')
})

t.test('through PgBouncer: overrunning statements, and a transaction holding a row lock, are cancelled on the server, and PgBouncer stays up', async (t) => {
  const app = await build(t, { primary: bouncer.primaryUrl, pgbouncer: pgbouncerVersion(), timeout: TIMEOUT, sampleInterval: '1h' })
  await t.rejects(app.db.write.query('SELECT pg_sleep(30) /* bouncer-write */'), { code: 'SCALEOUT_ERR_DB_OUTCOME_UNKNOWN' })
  await noneRunning(t, cluster.primary, 'bouncer-write')
  // PgBouncer 1.18 exited (FATAL "bad client state") when the cancel's own connection was closed
  // while it passed the cancel on: it is left for PgBouncer to close. Each call here needs a new
  // connection through PgBouncer.
  for (let i = 0; i < 5; i++) {
    await t.rejects(app.db.read.query('SELECT pg_sleep(30) /* bouncer-read */'), { code: 'SCALEOUT_ERR_DB_TIMEOUT' })
  }
  await noneRunning(t, cluster.primary, 'bouncer-read')
  await t.rejects(app.db.transaction(async (tx) => {
    await tx.query("UPDATE notes SET body = 'locked' WHERE id = 1")
    await tx.query('SELECT pg_sleep(30) /* bouncer-tx */')
  }), { code: 'SCALEOUT_ERR_DB_TIMEOUT' })
  const { rowCount } = await (await patient(t, bouncer.primaryUrl)).db.write.query("UPDATE notes SET body = 'after bouncer' WHERE id = 1")
  t.equal(rowCount, 1, 'the row lock was released')
  await noneRunning(t, cluster.primary, 'bouncer-tx')
})

t.test('over a unix socket, the cancel goes to the socket pg connected to', async (t) => {
  const primary = cluster.primary
  const app = await build(t, { primary: { host: primary.dir, port: primary.port, user: USER, database: DATABASE }, timeout: TIMEOUT, sampleInterval: '1h' })
  await t.rejects(app.db.read.query('SELECT pg_sleep(30) /* cancel-socket */'), { code: 'SCALEOUT_ERR_DB_TIMEOUT' })
  await noneRunning(t, primary, 'cancel-socket')
})

/** A pool of the caller's whose clients are altered once connected, as `alter` says. */
function alteredPool (t: Test, alter: (client: pg.PoolClient) => void): pg.Pool {
  const pool = new pg.Pool({ connectionString: cluster.primary.url, max: 1 })
  pool.on('connect', alter)
  t.teardown(async () => { await pool.end() })
  return pool
}

/** A read sleeping 60 s, far past any wait here, rejected at its deadline; the pool's total then. */
async function overrun (app: FastifyInstance, marker: string): Promise<number> {
  return await app.db.read.query(`SELECT pg_sleep(60) /* ${marker} */`).then(() => { throw new Error('should have timed out') }, (err: { code?: string }) => {
    if (err.code !== 'SCALEOUT_ERR_DB_TIMEOUT') throw err
    return app.db.stats().primary.pool.total
  })
}

/** Cancels, from the test's own connection, a statement nothing else can stop. */
async function stop (server: PostgresServer, marker: string): Promise<void> {
  await server.query("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' AND state = 'active' AND pid <> pg_backend_pid()", [marker])
}

t.test('a cancel that cannot be sent never fails the call nor crashes: the connection is destroyed at once, as before', async (t) => {
  // A client that exposes no cancel key.
  const keyless = await build(t, { primary: alteredPool(t, (client) => { (client as unknown as { processID: null }).processID = null }), timeout: TIMEOUT, sampleInterval: '1h' })
  t.equal(await overrun(keyless, 'cancel-keyless'), 0, 'destroyed without waiting')
  t.equal(await running(cluster.primary, 'cancel-keyless'), 1, 'nothing could stop the statement: the server runs it on')
  await stop(cluster.primary, 'cancel-keyless')
  await noneRunning(t, cluster.primary, 'cancel-keyless')

  // The cancel's connection is refused. The bound on a cancel's wait (1 s) never fires here: the
  // connection can only be destroyed by the refusal itself.
  const later = setTimeout
  t.capture(globalThis, 'setTimeout', ((fn: () => void, ms?: number, ...args: unknown[]) => ms === 1000 ? later(() => {}, 2 ** 31 - 1).unref() : later(fn, ms, ...args)) as typeof setTimeout)
  const closed = await freePort()
  const refused = await build(t, { primary: alteredPool(t, (client) => { client.port = closed }), timeout: TIMEOUT, sampleInterval: '1h' })
  await overrun(refused, 'cancel-refused')
  await waitUntil('the connection to be destroyed', () => refused.db.stats().primary.pool.total === 0, PATIENCE)
  t.equal(await running(cluster.primary, 'cancel-refused'), 1, 'the statement runs on, and nothing crashed')
  await stop(cluster.primary, 'cancel-refused')
  await noneRunning(t, cluster.primary, 'cancel-refused')
})

t.test('a cancel the server does not act on holds the connection 1s at most, then it is destroyed', async (t) => {
  // Takes the cancel request and never answers nor closes: a hung server's postmaster.
  const sockets = new Set<Socket>()
  const silent: Server = createServer((socket) => { sockets.add(socket) })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => silent.close(resolve))
  })
  const port = (silent.address() as { port: number }).port
  const app = await build(t, { primary: alteredPool(t, (client) => { client.port = port }), timeout: TIMEOUT, sampleInterval: '1h' })
  t.equal(await overrun(app, 'cancel-silent'), 1, 'the call rejected at its deadline, the cancel unanswered and the connection held')
  await waitUntil('the cancel request to arrive', () => sockets.size === 1, PATIENCE)
  await waitUntil('the connection to be destroyed', () => app.db.stats().primary.pool.total === 0, PATIENCE)
  t.equal(await running(cluster.primary, 'cancel-silent'), 1, 'by the bound on the wait: the statement, 60 s long, still runs')
  await stop(cluster.primary, 'cancel-silent')
  await noneRunning(t, cluster.primary, 'cancel-silent')
})
