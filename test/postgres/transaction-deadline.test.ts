import t from 'tap'
import postgres, { type Queryable } from '@scaleout/postgres'
import { appFor } from '../helpers/fixtures.js'
import { PostgresServer } from '../helpers/postgres.js'
import { waitUntil } from '../helpers/ports.js'
import { normalize } from '../../plugins/postgres/src/options.js'
import { build, NOTES } from './setup.js'

// A transaction has a deadline of its own, `transactionTimeout`, its callback included: a callback
// that never settles is rolled back on the server and gives its connection back, and close() ends.

let server: PostgresServer
t.before(async () => {
  server = await PostgresServer.start()
  await server.query(NOTES)
})
t.teardown(async () => { await server.stop() })
t.beforeEach(async () => {
  await server.query('TRUNCATE notes')
  await server.query("INSERT INTO notes (id, body) VALUES (1, 'one')")
})

const never = new Promise<never>(() => {})

async function idleInTransaction (): Promise<number> {
  const { rows } = await server.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()")
  return rows[0]?.n as number
}

t.test('transactionTimeout: 30s by default, a duration from 1ms to 1h', async (t) => {
  t.equal(normalize({ primary: server.url }).transactionTimeout, 30_000)
  t.equal(normalize({ primary: server.url, transactionTimeout: '5m' }).transactionTimeout, 300_000)
  for (const bad of [0, '2h', 'soon', -1]) {
    const app = appFor(t)
    await t.rejects(async () => { await app.register(postgres, { primary: server.url, transactionTimeout: bad }).ready() }, {
      code: 'SCALEOUT_ERR_INVALID_OPTION',
      message: /option `transactionTimeout` is invalid: expected a duration from 1ms to 1h/
    })
  }
})

t.test('callbacks that never settle: rolled back at transactionTimeout with SCALEOUT_ERR_DB_TIMEOUT, their connections and row locks released', async (t) => {
  const app = await build(t, { primary: server.url, poolSize: 2, transactionTimeout: 500, sampleInterval: '1h' })
  const handles: Queryable[] = []
  const started = Date.now()
  // The first holds the row lock and hangs idle in its transaction; the second waits on that lock
  // (a statement in flight, with its own 2s timeout still far off) and hangs too.
  const results = await Promise.allSettled([1, 2].map(async (n) => await app.db.transaction(async (tx) => {
    handles.push(tx)
    await tx.query('UPDATE notes SET body = $1 WHERE id = 1', [`tx ${n}`])
    await never
  })))
  const elapsed = Date.now() - started
  for (const result of results) {
    t.match(result, { status: 'rejected', reason: { code: 'SCALEOUT_ERR_DB_TIMEOUT', statusCode: 503, message: 'The database (primary) did not answer within 500ms' } })
  }
  t.match((results[0] as PromiseRejectedResult).reason.cause, { message: /transactionTimeout \(500ms\): rolled back/ })
  t.ok(elapsed >= 450 && elapsed < 1500, `rejected after ${elapsed}ms`)

  await waitUntil('no transaction left open on the server', async () => await idleInTransaction() === 0)
  await waitUntil('both connections destroyed', () => app.db.stats().primary.pool.total === 0)
  const { rowCount } = await app.db.write.query("UPDATE notes SET body = 'after' WHERE id = 1")
  t.equal(rowCount, 1, 'the row lock is gone and the pool serves writes again')
  const { rows } = await server.query('SELECT body FROM notes WHERE id = 1')
  t.same(rows, [{ body: 'after' }], 'neither transaction committed')

  for (const tx of handles) {
    await t.rejects(tx.query('SELECT 1'), { code: 'SCALEOUT_ERR_DB_TRANSACTION_DONE' }, 'the handle refuses statements after the deadline')
  }
})

t.test('a statement in flight at transactionTimeout rejects with SCALEOUT_ERR_DB_TIMEOUT and is cancelled on the server', async (t) => {
  const app = await build(t, { primary: server.url, transactionTimeout: 400, sampleInterval: '1h' })
  let inFlight: Promise<unknown> = Promise.resolve()
  await t.rejects(app.db.transaction(async (tx) => {
    inFlight = tx.query('SELECT pg_sleep(30) /* tx-deadline */').catch((err: unknown) => err)
    await never
  }), { code: 'SCALEOUT_ERR_DB_TIMEOUT' })
  t.match(await inFlight, { code: 'SCALEOUT_ERR_DB_TIMEOUT', message: 'The database (primary) did not answer within 400ms' })
  await waitUntil('the statement to be cancelled', async () => (await server.query("SELECT 1 FROM pg_stat_activity WHERE query LIKE '%tx-deadline%' AND pid <> pg_backend_pid()")).rowCount === 0, 5000)
  t.pass('no backend left running it')
})

t.test('a COMMIT in flight at transactionTimeout is of unknown outcome', async (t) => {
  await server.query('CREATE OR REPLACE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$')
  await server.query('CREATE TABLE IF NOT EXISTS slow (id int)')
  await server.query('DROP TRIGGER IF EXISTS slow_commit ON slow')
  await server.query('CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON slow DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()')
  const app = await build(t, { primary: server.url, timeout: '5s', transactionTimeout: 400, sampleInterval: '1h' })
  const err = await app.db.transaction(async (tx) => { await tx.query('INSERT INTO slow VALUES (1)') }).catch((e: unknown) => e)
  t.match(err, { code: 'SCALEOUT_ERR_DB_OUTCOME_UNKNOWN', cause: { code: 'SCALEOUT_ERR_DB_TIMEOUT', message: 'The database (primary) did not answer within 400ms' } })
  await waitUntil('the COMMIT to be cancelled', async () => await idleInTransaction() === 0 && (await server.query("SELECT 1 FROM pg_stat_activity WHERE query = 'COMMIT'")).rowCount === 0, 5000)
  const { rows } = await server.query('SELECT count(*)::int AS n FROM slow')
  t.same(rows, [{ n: 0 }], 'cancelled before it committed')
})

t.test('request.db.transaction with a callback that never settles answers 503 at transactionTimeout', async (t) => {
  const app = await build(t, { primary: server.url, transactionTimeout: 300, sampleInterval: '1h' }, {}, (app) => {
    app.post('/hang', async (request) => await request.db.transaction(async (tx) => {
      await tx.query("UPDATE notes SET body = 'hang' WHERE id = 1")
      return await never
    }))
  })
  const res = await app.inject({ method: 'POST', url: '/hang' })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'SCALEOUT_ERR_DB_TIMEOUT')
  await waitUntil('no transaction left open on the server', async () => await idleInTransaction() === 0)
})

// close() used to wait for such a transaction until its deadline (30 s by default): it now ends it
// at once. An hour's transactionTimeout shows which of the two ended it.
t.test('fastify.close() ends a transaction whose callback never settles: rolled back, SCALEOUT_ERR_DB_CLOSED', async (t) => {
  await server.query("INSERT INTO notes (id, body) VALUES (2, 'two')")
  const app = await build(t, { primary: server.url, transactionTimeout: '1h', sampleInterval: '1h' })
  const hung = app.db.transaction(async (tx) => {
    await tx.query("UPDATE notes SET body = 'hang' WHERE id = 1")
    await never
  }).catch((err: unknown) => err)
  const running = app.db.transaction(async (tx) => {
    await tx.query("UPDATE notes SET body = 'running' WHERE id = 2")
    await tx.query('SELECT pg_sleep(30)')
  }).catch((err: unknown) => err)
  await waitUntil('both transactions open', async () => (await server.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND query NOT LIKE '%pg_stat_activity%'")).rows[0]?.n === 2)
  await app.close()
  t.match(await hung, { code: 'SCALEOUT_ERR_DB_CLOSED', statusCode: 503 })
  t.match(await running, { code: 'SCALEOUT_ERR_DB_CLOSED' }, 'one with a statement in flight too')
  await waitUntil('no transaction left open on the server', async () => await idleInTransaction() === 0)
  const { rows } = await server.query<{ id: string, body: string }>('SELECT id::text, body FROM notes WHERE id IN (1, 2) ORDER BY id')
  t.same(rows, [{ id: '1', body: 'one' }, { id: '2', body: 'two' }], 'both rolled back')
})
