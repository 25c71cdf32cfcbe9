import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import postgres, { type PostgresOptions } from '@scaleout/postgres'
import { appFor } from '../helpers/fixtures.js'
import { PgBouncer, pgbouncerVersion } from '../helpers/pgbouncer.js'
import { PostgresServer } from '../helpers/postgres.js'

// currval() and lastval() answer for the server session that runs them. Each query() outside a
// transaction takes whichever connection is free (and behind PgBouncer, whichever server connection
// PgBouncer picks), so the value may be another caller's.

const TABLE = 'CREATE TABLE IF NOT EXISTS seq_notes (id bigserial PRIMARY KEY, body text NOT NULL)'
// A function reads the same session value, and the plugin reads only the statement's text: it shows
// what an unrefused `SELECT lastval()` returns.
const WRAPPER = "CREATE OR REPLACE FUNCTION seq_last() RETURNS bigint LANGUAGE sql AS 'SELECT lastval()'"

let server: PostgresServer
let bouncer: PgBouncer
t.before(async () => {
  server = await PostgresServer.start()
  bouncer = await PgBouncer.start(server)
})
t.teardown(async () => {
  await bouncer.stop()
  await server.stop()
})

const MODES: Array<[string, () => PostgresOptions]> = [
  ['directly', () => ({ primary: server.url, sampleInterval: '1h' })],
  ['through PgBouncer', () => ({ primary: bouncer.primaryUrl, pgbouncer: pgbouncerVersion(), sampleInterval: '1h' })]
]

async function instance (t: Test, options: PostgresOptions): Promise<FastifyInstance> {
  const app = appFor(t)
  await app.register(postgres, options)
  app.post('/run', async (request) => {
    const { sql, read } = request.body as { sql: string, read?: boolean }
    return (await (read === true ? request.db.read : request.db.write).query(sql)).rows
  })
  await app.ready()
  await app.db.write.query(TABLE)
  await app.db.write.query(WRAPPER)
  return app
}

for (const [mode, options] of MODES) {
  t.test(`${mode}, two callers interleaving INSERT and a separate lastval() query: the first caller is given the second caller's id`, async (t) => {
    const app = await instance(t, options())
    const insert = 'INSERT INTO seq_notes (body) VALUES ($1) RETURNING id::int'
    const a = (await app.db.write.query<{ id: number }>(insert, ['a'])).rows[0]?.id as number
    const b = (await app.db.write.query<{ id: number }>(insert, ['b'])).rows[0]?.id as number
    const { rows } = await app.db.write.query<{ id: number }>('SELECT seq_last()::int AS id')
    t.not(a, b)
    t.same(rows, [{ id: b }], 'caller A asked for its own id and got caller B\'s')
  })

  t.test(`${mode}, a query() outside a transaction that calls currval() or lastval() is refused before it is sent, naming RETURNING and transaction()`, async (t) => {
    const app = await instance(t, options())
    const cases: Array<[string, string]> = [
      ['SELECT lastval()', 'lastval'],
      ["SELECT CURRVAL('seq_notes_id_seq')", 'currval'],
      ['SELECT "lastval"()', 'lastval'],
      ["SELECT pg_catalog.currval('seq_notes_id_seq')", 'currval'],
      // Sent, the INSERT would run: a refused text is not sent at all.
      ["INSERT INTO seq_notes (body) VALUES ('refused'); SELECT pg_catalog.lastval()", 'lastval']
    ]
    for (const [sql, name] of cases) {
      const message = new RegExp(`^${name}\\(\\) is refused outside fastify\\.db\\.transaction\\(\\): .*; use INSERT \\.\\.\\. RETURNING id, or run both statements inside fastify\\.db\\.transaction\\(\\)$`)
      for (const read of [false, true]) {
        const res = await app.inject({ method: 'POST', url: '/run', payload: { sql, read } })
        t.equal(res.statusCode, 500, `${sql} (request.db.${read ? 'read' : 'write'})`)
        t.equal(res.json().code, 'SCALEOUT_ERR_DB_SESSION_SEQUENCE')
        t.match(res.json().message, message)
      }
      await t.rejects(app.db.write.query(sql), { code: 'SCALEOUT_ERR_DB_SESSION_SEQUENCE', message }, `${sql} (db.write)`)
      await t.rejects(app.db.read.query({ text: sql }), { code: 'SCALEOUT_ERR_DB_SESSION_SEQUENCE' }, `${sql} (db.read, a query config)`)
    }
    const { rows } = await app.db.write.query("SELECT count(*)::int AS n FROM seq_notes WHERE body = 'refused'")
    t.same(rows, [{ n: 0 }], 'nothing refused was sent')
    // The names in strings, comments and dollar quotes, and as a column, are not calls.
    const allowed = await app.db.write.query<{ a: string, b: string }>("SELECT 'lastval()' AS a, $$ currval( $$ AS b -- lastval()")
    t.same(allowed.rows, [{ a: 'lastval()', b: ' currval( ' }])
  })

  t.test(`${mode}, regression: a function whose SQL-standard body calls currval() or lastval() is created, not refused; a call after its body still is`, async (t) => {
    const app = await instance(t, options())
    const atomic = "CREATE OR REPLACE FUNCTION seq_atomic() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT lastval() + 0 * currval('seq_notes_id_seq'); END"
    await app.db.write.query(atomic)
    const res = await app.inject({ method: 'POST', url: '/run', payload: { sql: "CREATE OR REPLACE FUNCTION seq_return() RETURNS bigint LANGUAGE sql RETURN currval('seq_notes_id_seq')" } })
    t.equal(res.statusCode, 200, 'through request.db.write')
    const ids = await app.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: number }>("INSERT INTO seq_notes (body) VALUES ('atomic') RETURNING id::int")
      const called = await tx.query<{ a: number, r: number }>('SELECT seq_atomic()::int AS a, seq_return()::int AS r')
      return [rows[0]?.id, called.rows[0]?.a, called.rows[0]?.r]
    })
    t.same(ids, [ids[0], ids[0], ids[0]], 'the functions read the transaction\'s own id')
    await t.rejects(app.db.write.query('CREATE OR REPLACE FUNCTION seq_after() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END; SELECT lastval()'), { code: 'SCALEOUT_ERR_DB_SESSION_SEQUENCE' })
    const { rows } = await app.db.write.query("SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'seq_after'")
    t.same(rows, [{ n: 0 }], 'the refused text was not sent')
  })

  t.test(`${mode}, inside transaction() currval() and lastval() run, and each of two interleaved transactions reads its own id`, async (t) => {
    const app = await instance(t, options())
    let bInserted!: () => void
    const afterB = new Promise<void>((resolve) => { bInserted = resolve })
    let aInserted!: () => void
    const afterA = new Promise<void>((resolve) => { aInserted = resolve })
    const [a, b] = await Promise.all([
      app.db.transaction(async (tx) => {
        const { rows } = await tx.query<{ id: number }>("INSERT INTO seq_notes (body) VALUES ('tx a') RETURNING id::int")
        aInserted()
        await afterB
        const last = await tx.query<{ last: number, curr: number }>("SELECT lastval()::int AS last, pg_catalog.\"currval\"('seq_notes_id_seq')::int AS curr")
        return { inserted: rows[0]?.id, ...last.rows[0] }
      }),
      app.db.transaction(async (tx) => {
        await afterA
        const { rows } = await tx.query<{ id: number }>("INSERT INTO seq_notes (body) VALUES ('tx b') RETURNING id::int")
        bInserted()
        const last = await tx.query<{ last: number, curr: number }>("INSERT INTO seq_notes (body) VALUES ('tx b2'); SELECT lastval()::int AS last, currval('seq_notes_id_seq')::int AS curr") as unknown as Array<{ rows: Array<{ last: number, curr: number }> }>
        return { inserted: rows[0]?.id, ...last[1]?.rows[0] }
      })
    ])
    t.ok((b.inserted as number) > (a.inserted as number), 'B inserted after A')
    t.same(a, { inserted: a.inserted, last: a.inserted, curr: a.inserted }, 'A reads its own id, not B\'s later one')
    t.same(b, { inserted: b.inserted, last: (b.inserted as number) + 1, curr: (b.inserted as number) + 1 }, 'several statements in one text inside a transaction run too')
  })
}

// Through PgBouncer the server connection picked may have run another test's INSERT: directly only.
t.test('directly, lastval() after an INSERT that ran while another statement held a second connection fails: "not yet defined in this session"', async (t) => {
  const app = await instance(t, { primary: server.url, sampleInterval: '1h', poolSize: 2 })
  // The pool hands out the connection given back last: the one that ran pg_sleep, no INSERT.
  await Promise.all([
    app.db.write.query("INSERT INTO seq_notes (body) VALUES ('c')"),
    app.db.write.query('SELECT pg_sleep(0.2)')
  ])
  await t.rejects(app.db.write.query('SELECT seq_last()'), { code: '55000', message: /lastval is not yet defined in this session/ })
})
