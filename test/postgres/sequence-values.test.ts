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
