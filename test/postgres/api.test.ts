import { spawnSync } from 'node:child_process'
import t from 'tap'
import Fastify from 'fastify'
import pg from 'pg'
import { coreErrors } from '@scaleout/core'
import postgres, {
  errors, DbClosedError, DbUnsupportedDriverError, DbNotConfiguredError, DbOpenTransactionError, DbWriteInReadError, DbOutcomeUnknownError, DbReadOnlyError, DbRolledBackError,
  DbSessionSequenceError, DbSessionStateError, DbTimeoutError, DbTransactionControlError, DbTransactionDoneError, DbUnavailableError, InvalidOptionError
} from '@scaleout/postgres'
import { appFor, logSink } from '../helpers/fixtures.js'
import { pgBinary, PostgresServer } from '../helpers/postgres.js'
import { freePort, waitUntil } from '../helpers/ports.js'
import { build, NOTES, SECRET } from './setup.js'

// The seed API on a primary alone: no replica configured, the same API, everything on the primary.

let server: PostgresServer
t.before(async () => {
  server = await PostgresServer.start()
  await server.query(NOTES)
})
t.teardown(async () => { await server.stop() })
t.beforeEach(async () => { await server.query('TRUNCATE notes') })

t.test('write, read and transaction run on the primary with no replica, through fastify.db and request.db', async (t) => {
  const app = await build(t, { primary: server.url, replicas: [] }, {}, (app) => {
    app.post('/tx', async (request) => {
      return await request.db.transaction(async (tx) => {
        await tx.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [10, 'in tx'])
        const { rows } = await tx.query<{ body: string }>('SELECT body FROM notes WHERE id = $1', [10])
        return { seen: rows[0]?.body }
      })
    })
  })
  const written = await app.inject({ method: 'POST', url: '/notes', payload: { id: 1, body: 'hello' } })
  t.equal(written.statusCode, 200)
  t.equal(written.headers['x-scaleout-db-token'], undefined, 'no replica: no token')
  t.equal(written.headers['set-cookie'], undefined)
  const read = await app.inject('/notes/1')
  t.same(read.json(), { body: 'hello' })
  const tx = await app.inject({ method: 'POST', url: '/tx' })
  t.same(tx.json(), { seen: 'in tx' }, 'reads inside a transaction see its writes')
  const direct = await app.db.read.query<{ n: string }>('SELECT count(*) AS n FROM notes')
  t.equal(direct.rows[0]?.n, '2')
  const inserted = await app.db.write.query('INSERT INTO notes (id, body) VALUES ($1, $2) RETURNING id', [3, 'three'])
  t.equal(inserted.rowCount, 1)
  t.equal(inserted.command, 'INSERT')
  const viaTx = await app.db.transaction(async (tx) => (await tx.query('SELECT 1 AS one')).rows[0])
  t.same(viaTx, { one: 1 })
  const stats = app.db.stats()
  t.equal(stats.routes.noReplica, 2)
  t.same(stats.replicas, [])
  t.equal(stats.primary.state, 'up')
  t.equal(stats.primary.role, 'primary')
  t.match(stats.primary.lsn, /^[0-9A-F]+\/[0-9A-F]+$/)
})

t.test('a throw or a rejected promise inside a transaction rolls back and rethrows', async (t) => {
  const app = await build(t, { primary: server.url, sampleInterval: '1h' })
  const boom = new Error('boom')
  await t.rejects(app.db.transaction(async (tx) => {
    await tx.query('INSERT INTO notes (id, body) VALUES (1, $1)', ['a'])
    throw boom
  }), boom)
  await t.rejects(app.db.transaction(async (tx) => {
    await tx.query('INSERT INTO notes (id, body) VALUES (2, $1)', ['b'])
    await Promise.reject(boom)
  }), boom)
  await t.rejects(app.db.transaction(async (tx) => {
    await tx.query('INSERT INTO notes (id, body) VALUES (3, $1)', ['c'])
    await tx.query('INSERT INTO notes (id, body) VALUES (3, $1)', ['duplicate'])
  }), { code: '23505' }, 'the database error itself, untouched')
  const { rows } = await server.query('SELECT count(*)::int AS n FROM notes')
  t.same(rows, [{ n: 0 }], 'nothing committed')
  t.equal(app.db.stats().primary.pool.total, app.db.stats().primary.pool.idle, 'every connection went back')
})

t.test('a caught statement failure inside a transaction: COMMIT rolls back and says so', async (t) => {
  const app = await build(t, { primary: server.url })
  await t.rejects(app.db.transaction(async (tx) => {
    await tx.query('INSERT INTO notes (id, body) VALUES (1, $1)', ['a'])
    await tx.query('SELECT nonsense FROM nowhere').catch(() => {})
  }), { code: 'SCALEOUT_ERR_DB_ROLLED_BACK' })
  const { rows } = await server.query('SELECT count(*)::int AS n FROM notes')
  t.same(rows, [{ n: 0 }])
})

t.test('a transaction handle used after its transaction ended is refused', async (t) => {
  const app = await build(t, { primary: server.url })
  let kept: { query: (text: string) => Promise<unknown> } | undefined
  await app.db.transaction(async (tx) => { kept = tx })
  await t.rejects(kept?.query('SELECT 1') as Promise<unknown>, { code: 'SCALEOUT_ERR_DB_TRANSACTION_DONE' })
  await t.rejects(app.db.transaction('nope' as never), TypeError)
})

t.test('a failed ROLLBACK destroys that connection and the original error is rethrown', async (t) => {
  const app = await build(t, { primary: server.url, poolSize: 1, sampleInterval: '1h' })
  const boom = new Error('handler failed')
  await t.rejects(app.db.transaction(async (tx) => {
    const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
    // The server side of this very connection goes away: the ROLLBACK cannot be sent.
    await server.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid])
    await waitUntil('backend gone', async () => (await server.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [rows[0]?.pid])).rowCount === 0)
    throw boom
  }), boom)
  t.equal(app.db.stats().primary.pool.total, 0, 'the connection was destroyed, not returned')
  const { rows } = await app.db.write.query('SELECT 1 AS ok')
  t.same(rows, [{ ok: 1 }], 'the pool opens a fresh one')
})

t.test('a statement whose connection dies inside a transaction: nothing committed, connection destroyed, no ROLLBACK tried', async (t) => {
  const app = await build(t, { primary: server.url, poolSize: 1, sampleInterval: '1h' })
  await t.rejects(app.db.transaction(async (tx) => {
    await tx.query('INSERT INTO notes (id, body) VALUES (1, $1)', ['a'])
    await tx.query('SELECT pg_terminate_backend(pg_backend_pid())')
  }), { code: 'SCALEOUT_ERR_DB_UNAVAILABLE', statusCode: 503 })
  t.equal(app.db.stats().primary.pool.total, 0)
  const { rows } = await server.query('SELECT count(*)::int AS n FROM notes')
  t.same(rows, [{ n: 0 }])
})

t.test('a connection the server drops while a transaction holds it between statements: no crash, a coded error, nothing committed', async (t) => {
  const app = await build(t, { primary: server.url })
  await t.rejects(app.db.transaction(async (tx) => {
    await tx.query("SET LOCAL idle_in_transaction_session_timeout = '50ms'")
    await tx.query('INSERT INTO notes (id, body) VALUES (1, $1)', ['a'])
    // The server ends the session with a FATAL while no statement runs: an `error` event on a held client.
    await waitUntil('the server to end the idle transaction', async () => (await server.query("SELECT 1 FROM pg_stat_activity WHERE state = 'idle in transaction'")).rowCount === 0)
    await tx.query('SELECT 1')
  }), { code: 'SCALEOUT_ERR_DB_UNAVAILABLE', statusCode: 503 })
  const { rows } = await server.query('SELECT count(*)::int AS n FROM notes')
  t.same(rows, [{ n: 0 }])
})

t.test('database errors of the caller pass through untouched; reads are not retried for them', async (t) => {
  const app = await build(t, { primary: server.url })
  await app.db.write.query('INSERT INTO notes (id, body) VALUES (1, $1)', ['a'])
  await t.rejects(app.db.write.query('INSERT INTO notes (id, body) VALUES (1, $1)', ['b']), { code: '23505', constraint: 'notes_pkey' })
  await t.rejects(app.db.read.query('SELEC 1'), { code: '42601' })
  await t.rejects(app.db.read.query('SELECT $1::int', ['x']), { code: '22P02' })
  await t.rejects(app.db.read.query(undefined as never), TypeError)
})

t.test('a write past the deadline is reported as of unknown outcome, cancelled on the server, never retried', async (t) => {
  // No sampling after the first round: the pool holds only the connections of this test. The
  // deadline leaves a loaded machine time to connect and send; the statements sleep far past it.
  const app = await build(t, { primary: server.url, timeout: '2s', sampleInterval: '1h' })
  const err = await app.db.write.query("INSERT INTO notes (id, body) SELECT 1, 'slow' FROM pg_sleep(30)").catch((e: unknown) => e)
  t.match(err, { code: 'SCALEOUT_ERR_DB_OUTCOME_UNKNOWN', statusCode: 503 })
  t.match((err as Error).cause, { code: 'SCALEOUT_ERR_DB_TIMEOUT' })
  // The cancel may reach the server after a COMMIT (the caller was told it might have committed);
  // here it arrives during the sleep, so nothing is written. A retry would have been sent before
  // the call rejected: once no statement runs, none will.
  await waitUntil('the slow insert to be cancelled', async () => (await server.query("SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()")).rowCount === 0, 25_000)
  const { rows } = await server.query('SELECT count(*)::int AS n FROM notes')
  t.same(rows, [{ n: 0 }], 'cancelled, and not retried')
  await t.rejects(app.db.read.query('SELECT pg_sleep(30)'), { code: 'SCALEOUT_ERR_DB_TIMEOUT', statusCode: 503, message: 'The database (primary) did not answer within 2000ms' })
  await waitUntil('the connections to be destroyed', () => app.db.stats().primary.pool.total === 0, 25_000)
  t.pass('each overrunning statement had its connection destroyed')
})

t.test('a write whose connection dies after it was sent is reported as of unknown outcome', async (t) => {
  const app = await build(t, { primary: server.url, sampleInterval: '1h' })
  const err = await app.db.write.query('SELECT pg_terminate_backend(pg_backend_pid())').catch((e: unknown) => e)
  t.match(err, { code: 'SCALEOUT_ERR_DB_OUTCOME_UNKNOWN', statusCode: 503, message: 'The primary stopped answering after receiving a write: it may or may not have committed, and it was not retried' })
  t.match((err as Error).cause, { code: '57P01' })
  t.equal(app.db.stats().primary.pool.total, 0, 'that connection was destroyed')
})

t.test('a COMMIT past the deadline is reported as of unknown outcome', async (t) => {
  await server.query('CREATE OR REPLACE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$')
  await server.query('CREATE TABLE IF NOT EXISTS slow (id int)')
  await server.query('DROP TRIGGER IF EXISTS slow_commit ON slow')
  await server.query('CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON slow DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()')
  const app = await build(t, { primary: server.url, timeout: 300 }, {}, (app) => {
    app.post('/slow', async (request) => {
      await request.db.transaction(async (tx) => { await tx.query('INSERT INTO slow VALUES (1)') })
      return { ok: true }
    })
  })
  const res = await app.inject({ method: 'POST', url: '/slow' })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'SCALEOUT_ERR_DB_OUTCOME_UNKNOWN')
  await t.rejects(app.db.transaction(async (tx) => { await tx.query('INSERT INTO slow VALUES (2)') }), { code: 'SCALEOUT_ERR_DB_OUTCOME_UNKNOWN' })
})

t.test('the deadline covers waiting for a connection: a full pool gives SCALEOUT_ERR_DB_TIMEOUT, nothing sent', async (t) => {
  const app = await build(t, { primary: server.url, timeout: 300, poolSize: 1, sampleInterval: '1h' })
  let release: () => void = () => {}
  const held = app.db.transaction(async () => { await new Promise<void>((resolve) => { release = resolve }) })
  await waitUntil('the connection to be held', () => app.db.stats().primary.pool.idle === 0 && app.db.stats().primary.pool.total === 1)
  await t.rejects(app.db.write.query('INSERT INTO notes (id, body) VALUES (1, $1)', ['never']), { code: 'SCALEOUT_ERR_DB_TIMEOUT', statusCode: 503 })
  await t.rejects(app.db.transaction(async () => {}), { code: 'SCALEOUT_ERR_DB_TIMEOUT' })
  release()
  await held
  const { rows } = await server.query('SELECT count(*)::int AS n FROM notes')
  t.same(rows, [{ n: 0 }], 'the timed-out write was never sent')
  await waitUntil('late connection back in the pool', () => app.db.stats().primary.pool.idle === 1)
})

// write.query('BEGIN') gave the pool back a connection inside a transaction: another caller's INSERT
// then ran in it, resolved with rowCount 1, and was lost when the connection went.
t.test('a query() text that leaves a transaction open is refused before it is sent; one that ends it runs', async (t) => {
  const app = await build(t, { primary: server.url, poolSize: 1, sampleInterval: '1h' })
  for (const text of ['BEGIN', 'start transaction isolation level serializable', 'BEGIN; INSERT INTO notes (id, body) VALUES (9, \'x\')', 'BEGIN; COMMIT AND CHAIN', 'BEGIN; CREATE FUNCTION f_atomic() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END']) {
    await t.rejects(app.db.write.query(text), {
      code: 'SCALEOUT_ERR_DB_OPEN_TRANSACTION',
      statusCode: 500,
      message: /^A statement that leaves a transaction open \(BEGIN without COMMIT or ROLLBACK in the same text\) is refused: .*; use transaction\(\)$/
    }, text)
    await t.rejects(app.db.read.query({ text }), { code: 'SCALEOUT_ERR_DB_OPEN_TRANSACTION' }, `${text}, through read and a query config`)
  }
  await app.db.write.query("BEGIN; INSERT INTO notes (id, body) VALUES (1, 'one'); COMMIT")
  await app.db.write.query('BEGIN; CREATE FUNCTION f_atomic() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END; DROP FUNCTION f_atomic(); COMMIT')
  await app.db.write.query("INSERT INTO notes (id, body) VALUES (2, 'begin; start')")
  await app.db.transaction(async (tx) => { await tx.query("INSERT INTO notes (id, body) VALUES (3, 'three')") })
  const { rows } = await server.query('SELECT id::int FROM notes ORDER BY id')
  t.same(rows, [{ id: 1 }, { id: 2 }, { id: 3 }], 'nothing refused was sent; every other write committed')
})

t.test('regression: a BEGIN; ...; COMMIT text whose statement fails no longer gives its connection back inside the aborted transaction', async (t) => {
  // The error skips the rest of the text, COMMIT with it: the connection stays in the transaction,
  // and every later statement on it failed ("current transaction is aborted") or joined it.
  const app = await build(t, { primary: server.url, poolSize: 1, sampleInterval: '1h' })
  await app.db.write.query("INSERT INTO notes (id, body) VALUES (1, 'one')")
  await t.rejects(app.db.write.query("BEGIN; INSERT INTO notes (id, body) VALUES (1, 'again'); COMMIT"), { code: '23505' })
  t.same((await app.db.write.query('SELECT 1 AS one')).rows, [{ one: 1 }], 'the pool\'s one connection answers the next write')
  await app.db.write.query("INSERT INTO notes (id, body) VALUES (2, 'two')")
  await t.rejects(app.db.read.query('BEGIN; SELECT 1 / 0; COMMIT'), { code: '22012' })
  t.same((await app.db.read.query('SELECT 2 AS two')).rows, [{ two: 2 }], 'and the next read')
  t.same((await server.query('SELECT id, body FROM notes ORDER BY id')).rows, [{ id: '1', body: 'one' }, { id: '2', body: 'two' }], 'the write after it committed')
})

t.test('regression: where standard_conforming_strings is off, a text whose BEGIN only that reading sees is refused, not run to leave its connection in a transaction', async (t) => {
  const app = await build(t, { primary: { connectionString: server.url, options: '-c standard_conforming_strings=off' }, poolSize: 1, sampleInterval: '1h' })
  const sql = "SELECT '\\''; BEGIN; --'"
  await t.rejects(app.db.write.query(sql), { code: 'SCALEOUT_ERR_DB_OPEN_TRANSACTION' })
  await t.rejects(app.db.read.query(sql), { code: 'SCALEOUT_ERR_DB_OPEN_TRANSACTION' })
  await app.db.write.query("INSERT INTO notes (id, body) VALUES (3, 'committed')")
  t.same((await server.query('SELECT body FROM notes WHERE id = 3')).rows, [{ body: 'committed' }], 'the next write commits')
})

t.test('regression: a table named begin read with the alias atomic no longer hides the BEGIN after it: the text is refused, not run to leave its connection in a transaction', async (t) => {
  await server.query('CREATE TABLE IF NOT EXISTS "begin" (x int)')
  t.teardown(async () => { await server.query('DROP TABLE "begin"') })
  const sql = 'SELECT 1 FROM begin atomic; BEGIN; SELECT 1'
  // What PostgreSQL makes of it: the table, then a BEGIN that stays open.
  const raw = new pg.Client(server.url)
  await raw.connect()
  t.teardown(async () => { await raw.end() })
  await raw.query(sql)
  t.same((await raw.query('SELECT now() = statement_timestamp() AS outside')).rows, [{ outside: false }], 'run, the text leaves its connection inside a transaction')
  await raw.query('ROLLBACK')

  const app = await build(t, { primary: server.url, poolSize: 1, sampleInterval: '1h' })
  await t.rejects(app.db.write.query(sql), { code: 'SCALEOUT_ERR_DB_OPEN_TRANSACTION' })
  await t.rejects(app.db.read.query(sql), { code: 'SCALEOUT_ERR_DB_OPEN_TRANSACTION' })
  await app.db.write.query("INSERT INTO notes (id, body) VALUES (4, 'committed')")
  t.same((await server.query('SELECT body FROM notes WHERE id = 4')).rows, [{ body: 'committed' }], 'the next write on the pool\'s one connection commits')
})

t.test('a primary that refuses connections answers a coded 503, not the driver text', async (t) => {
  const port = await freePort()
  const app = await build(t, { primary: `postgres://postgres:x@127.0.0.1:${port}/postgres`, timeout: 500 })
  const res = await app.inject({ method: 'POST', url: '/notes', payload: { id: 1, body: 'x' } })
  t.equal(res.statusCode, 503)
  t.same(res.json(), { statusCode: 503, code: 'SCALEOUT_ERR_DB_UNAVAILABLE', error: 'Service Unavailable', message: 'The database (primary) is unavailable; try again shortly' })
  const read = await app.inject('/notes/1')
  t.equal(read.statusCode, 503)
  t.equal(read.json().code, 'SCALEOUT_ERR_DB_UNAVAILABLE')
  await t.rejects(app.db.transaction(async () => {}), DbUnavailableError)
  await t.rejects(app.db.checks.primary(), { code: 'SCALEOUT_ERR_DB_UNAVAILABLE' })
  t.equal(app.db.stats().primary.state, 'unreachable')
})

t.test('SQLSTATE 25006 on the primary (read-only, as a demoted primary is) is a coded 503 and the write is not retried', async (t) => {
  const app = await build(t, { primary: { ...server.config, options: '-c default_transaction_read_only=on' } })
  const res = await app.inject({ method: 'POST', url: '/notes', payload: { id: 1, body: 'x' } })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'SCALEOUT_ERR_DB_READ_ONLY')
  t.match(res.json().message, /read-only \(demoted or in recovery\); nothing was written/)
})

t.test('a pg.Pool the caller passes is used and never ended; pools the plugin made are ended on close', async (t) => {
  const pool = new pg.Pool({ connectionString: server.url, max: 2 })
  const app = await build(t, { primary: pool })
  await app.db.write.query('INSERT INTO notes (id, body) VALUES (1, $1)', ['mine'])
  t.equal(app.db.stats().primary.pool.total, pool.totalCount)
  t.equal(pool.listenerCount('error'), 1, 'the plugin listens for idle connection errors')
  t.same([pool.listenerCount('acquire'), pool.listenerCount('release')], [1, 1], 'and for errors on connections it holds')
  await app.close()
  t.equal(pool.ended, false)
  t.equal(pool.listenerCount('error'), 0, 'and stops listening on close')
  t.same([pool.listenerCount('acquire'), pool.listenerCount('release')], [0, 0])
  const { rows } = await pool.query('SELECT body FROM notes')
  t.same(rows, [{ body: 'mine' }])
  await pool.end()

  // Every pool the plugin made (primary, replica, and the one that reads commit positions) holds
  // connections named by the URL's application_name; after close the server has none of them.
  const named = `${server.url}${server.url.includes('?') ? '&' : '?'}application_name=owned-pools`
  const connections = async (): Promise<number> => (await server.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'owned-pools'")).rows[0]?.n ?? -1
  const owned = await build(t, { primary: named, replicas: [named], secret: SECRET })
  t.equal((await owned.inject({ method: 'POST', url: '/notes', payload: { id: 2, body: 'owned' } })).statusCode, 200)
  await owned.db.read.query('SELECT 1')
  t.ok(await connections() >= 3, 'connections open: a write, its position read, a replica read')
  await owned.close()
  await waitUntil('the server to see every connection gone', async () => await connections() === 0)
  await t.rejects(owned.db.read.query('SELECT 1'), { code: 'SCALEOUT_ERR_DB_CLOSED', statusCode: 503 })
  await t.rejects(owned.db.write.query('SELECT 1'), { code: 'SCALEOUT_ERR_DB_CLOSED' })
})

t.test('regression: transaction() and checks.primary after fastify.close() are SCALEOUT_ERR_DB_CLOSED, and never reach a pool the caller passed', async (t) => {
  const pool = new pg.Pool({ connectionString: server.url, max: 2 })
  t.teardown(async () => { await pool.end() })
  const given = await build(t, { primary: pool })
  const owned = await build(t, { primary: server.url })
  await given.close()
  await owned.close()
  for (const app of [given, owned]) {
    let ran = false
    await t.rejects(app.db.transaction(async (tx) => {
      ran = true
      return await tx.query("INSERT INTO notes (id, body) VALUES (1, 'after close')")
    }), { code: 'SCALEOUT_ERR_DB_CLOSED', statusCode: 503 })
    t.equal(ran, false, 'the callback never runs')
    await t.rejects(app.db.checks.primary(), { code: 'SCALEOUT_ERR_DB_CLOSED', statusCode: 503 })
  }
  t.same((await pool.query('SELECT count(*)::int AS n FROM notes')).rows, [{ n: 0 }], 'nothing written')
  t.equal(pool.totalCount - pool.idleCount, 0, 'no connection of the caller\'s pool left in use')
})

t.test('an idle connection killed by the server is an error event the plugin handles, not a crash', async (t) => {
  const sink = logSink('warn')
  const app = appFor(t, { logger: sink.logger })
  await app.register(postgres, { primary: server.url, sampleInterval: '1h' })
  await app.ready()
  await Promise.all([app.db.read.query('SELECT 1'), app.db.read.query('SELECT 1'), app.db.read.query('SELECT 1')])
  const idle = app.db.stats().primary.pool.idle
  t.ok(idle >= 1)
  await server.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
  await waitUntil('the pool to drop its dead connections', () => app.db.stats().primary.pool.total === 0)
  t.ok(sink.lines.some((l) => l.msg === 'postgres: idle connection lost' && l.host === 'primary'))
  const { rows } = await app.db.read.query('SELECT 2 AS two')
  t.same(rows, [{ two: 2 }])
})

t.test('a connection the server ends while the plugin closes its pool: no crash, and nothing logged after close', async (t) => {
  const sink = logSink('warn')
  const app = appFor(t, { logger: sink.logger })
  await app.register(postgres, { primary: server.url, sampleInterval: '1h' })
  await app.ready()
  const { rows } = await app.db.read.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  t.equal(app.db.stats().primary.pool.idle, 1)
  // psql runs synchronously, so this process reads nothing meanwhile: the server ends that idle
  // backend (the two-argument form waits until it has gone) and its FATAL waits unread in our socket
  // until after close() has ended the pool, as a replica's recovery-conflict FATAL once did in CI.
  const ended = spawnSync(pgBinary('psql'), [server.url, '-Atc', `SELECT pg_terminate_backend(${Number(rows[0]?.pid)}, 5000)`], { encoding: 'utf8' })
  t.equal(ended.stdout.trim(), 't', ended.stderr)
  await app.close()
  const logged = sink.lines.length
  // Some turns of the event loop, so that the FATAL is read and its error event emitted.
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(sink.lines.length, logged, 'a closed plugin logs nothing more')
})

t.test('DATABASE_URL and DATABASE_REPLICA_URL are the defaults', async (t) => {
  const saved = { url: process.env.DATABASE_URL, replica: process.env.DATABASE_REPLICA_URL }
  t.teardown(() => {
    for (const [key, value] of [['DATABASE_URL', saved.url], ['DATABASE_REPLICA_URL', saved.replica]] as const) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  })
  process.env.DATABASE_URL = server.url
  process.env.DATABASE_REPLICA_URL = ` ${server.url} , ,`
  const app = appFor(t)
  // The primary listed as a replica is not a standby: it stays out of rotation.
  await app.register(postgres, { secret: 'x'.repeat(32) })
  const { rows } = await app.db.read.query('SELECT 1 AS one')
  t.same(rows, [{ one: 1 }])
  const stats = app.db.stats()
  t.equal(stats.replicas.length, 1)
  t.equal(stats.replicas[0]?.state, 'not-standby')
  t.equal(stats.routes.quarantined, 1)
  t.same(await app.db.checks.replicas(), { status: 'warn', observedValue: 0, observedUnit: 'replicas', output: 'no replica in rotation: reads run on the primary' })
  t.match(await app.db.checks.primary(), { status: 'pass', observedUnit: 'ms' })
  delete process.env.DATABASE_URL
  await t.rejects(async () => { await Fastify().register(postgres).ready() }, {
    code: 'SCALEOUT_ERR_DB_NOT_CONFIGURED',
    message: '@scaleout/postgres needs a primary: pass the `primary` option (a postgres:// URL, a pg config object or a pg.Pool) or set DATABASE_URL'
  })
})

t.test('every error the plugin throws is in `errors`, keyed by its code, with the core ones', async (t) => {
  for (const [code, Err] of Object.entries(errors)) {
    t.equal(new (Err as new (...args: unknown[]) => Error & { code: string })('a', 1).code, code)
  }
  const named = [
    DbNotConfiguredError, DbUnavailableError, DbTimeoutError, DbOutcomeUnknownError, DbReadOnlyError,
    DbSessionStateError, DbSessionSequenceError, DbOpenTransactionError, DbWriteInReadError, DbTransactionControlError, DbTransactionDoneError, DbRolledBackError, DbClosedError, DbUnsupportedDriverError, InvalidOptionError
  ]
  for (const Err of named) t.equal(errors[new Err('a', 1).code], Err)
  for (const [code, Err] of Object.entries(coreErrors)) t.equal(errors[code as keyof typeof errors], Err, code)
  t.equal(Object.keys(errors).length, Object.keys(coreErrors).length + 14)
  t.ok(Object.isFrozen(errors))
})
