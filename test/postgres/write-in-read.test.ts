import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type pg from 'pg'
import type { PostgresOptions } from '@scaleout/postgres'
import { PgBouncer, pgbouncerVersion } from '../helpers/pgbouncer.js'
import { freePort, waitUntil } from '../helpers/ports.js'
import type { PostgresCluster } from '../helpers/postgres.js'
import { build, NOTES, SECRET, startNotesCluster } from './setup.js'

// A statement sent through read() that writes (nextval(), a function that inserts) failed on a
// replica with PostgreSQL's read-only error, but ran on the primary whenever the read went there (no
// replica in rotation, a token ahead of them, a retry, none configured) and committed with no token:
// the client's next read, on a replica that had not replayed it yet, did not see its own write.

const ADD_NOTE = 'CREATE OR REPLACE FUNCTION add_note(bigint, text) RETURNS bigint LANGUAGE sql AS \'INSERT INTO notes (id, body) VALUES ($1, $2) RETURNING id\''
const MESSAGE = 'A statement sent through read() tried to write (nextval(), a function that writes, SELECT ... FOR UPDATE): nothing was written; send it through write() or transaction(), which run it on the primary and give the client its token'

let cluster: PostgresCluster
let closed: string
let bouncer: PgBouncer
let nextId = 100
t.before(async () => {
  cluster = await startNotesCluster()
  closed = `postgres://postgres:x@127.0.0.1:${await freePort()}/postgres`
  bouncer = await PgBouncer.start(cluster.primary, cluster.replica)
})
t.teardown(async () => {
  await bouncer.stop()
  await cluster.stop()
})

async function instance (t: Test, extra: Partial<PostgresOptions>): Promise<FastifyInstance> {
  const app = await build(t, { primary: cluster.primary.url, secret: SECRET, poolSize: 1, routeHeader: true, sampleInterval: 50, timeout: '1s', replicaWait: 0, ...extra }, {}, (app) => {
    app.post('/read', async (request) => {
      const { sql, values, rowMode } = request.body as { sql: string, values?: unknown[], rowMode?: 'array' }
      const result = await request.db.read.query(rowMode === undefined ? sql : { text: sql, rowMode } as pg.QueryConfig, values)
      return Array.isArray(result) ? result.map((r: { rows: unknown[] }) => r.rows) : result.rows
    })
  })
  return app
}

const WHERE: Array<[string, () => Partial<PostgresOptions>, string]> = [
  ['a replica in rotation', () => ({ replicas: [cluster.replica.url] }), 'replica;reason=replica'],
  ['no replica in rotation', () => ({ replicas: [closed] }), 'primary;reason=quarantined'],
  ['no replica configured', () => ({}), 'primary;reason=noReplica'],
  // The setting lasts for its transaction only: PgBouncer's next client on that server connection writes.
  ['PgBouncer and no replica in rotation', () => ({ primary: bouncer.primaryUrl, replicas: [closed], pgbouncer: pgbouncerVersion() }), 'primary;reason=quarantined']
]

for (const [where, extra, route] of WHERE) {
  t.test(`with ${where}, a write through request.db.read is refused with SCALEOUT_ERR_DB_WRITE_IN_READ, nothing written and no token, as it is everywhere`, async (t) => {
    const app = await instance(t, extra())
    // Through PgBouncer the database is another one (`app`): the schema is made through the plugin.
    for (const sql of [NOTES, 'CREATE SEQUENCE IF NOT EXISTS s', ADD_NOTE]) await app.db.write.query(sql)
    await cluster.replica.waitCaughtUp(cluster.primary)
    if (route.startsWith('replica')) await waitUntil('the replica in rotation', () => app.db.stats().replicas[0]?.state === 'up')
    const before = (await app.db.write.query<{ n: string }>('SELECT last_value::text AS n FROM s')).rows[0]?.n
    const id = nextId++
    const writes: Array<[string, unknown[] | undefined]> = [
      ["SELECT nextval('s')", undefined],
      ['SELECT nextval($1)', ['s']],
      ["SELECT setval('s', 1000)", undefined],
      [`SELECT add_note(${id}, 'simple protocol')`, undefined],
      ['SELECT add_note($1, $2)', [id, 'extended protocol']],
      ['SELECT body FROM notes WHERE id = $1 FOR UPDATE', [1]]
    ]
    for (const [sql, values] of writes) {
      const res = await app.inject({ method: 'POST', url: '/read', payload: { sql, values } })
      t.equal(res.statusCode, 500, sql)
      t.same(res.json(), { statusCode: 500, code: 'SCALEOUT_ERR_DB_WRITE_IN_READ', error: 'Internal Server Error', message: MESSAGE }, sql)
      t.equal(res.headers['x-scaleout-db-token'], undefined, 'no token: nothing was written')
      t.equal(res.headers['set-cookie'], undefined)
    }
    await t.rejects(app.db.read.query("SELECT nextval('s')"), { code: 'SCALEOUT_ERR_DB_WRITE_IN_READ', message: MESSAGE }, 'fastify.db.read too')
    t.same((await app.db.write.query('SELECT id FROM notes WHERE id = $1', [id])).rows, [], 'no note written')
    t.same((await app.db.write.query<{ n: string }>('SELECT last_value::text AS n FROM s')).rows[0]?.n, before, 'the sequence did not move')

    // Reads still read, with the results they had: one statement, several, rows as arrays, the caller's own errors.
    const one = await app.inject({ method: 'POST', url: '/read', payload: { sql: 'SELECT $1::int AS a', values: [7] } })
    t.same(one.json(), [{ a: 7 }])
    t.equal(one.headers['x-scaleout-db-route'], route)
    t.same((await app.inject({ method: 'POST', url: '/read', payload: { sql: 'SELECT 1 AS a' } })).json(), [{ a: 1 }])
    t.same((await app.inject({ method: 'POST', url: '/read', payload: { sql: 'SELECT 1 AS a; SELECT 2 AS b' } })).json(), [[{ a: 1 }], [{ b: 2 }]])
    t.same((await app.inject({ method: 'POST', url: '/read', payload: { sql: 'SELECT 1 AS a, 2 AS b', rowMode: 'array' } })).json(), [[1, 2]])
    t.same((await app.inject({ method: 'POST', url: '/read', payload: { sql: 'SELECT 3 AS c', values: [], rowMode: 'array' } })).json(), [[3]])
    t.same((await app.inject({ method: 'POST', url: '/read', payload: { sql: "SELECT current_setting('transaction_read_only') AS ro" } })).json(), [{ ro: 'on' }])
    const own = await app.inject({ method: 'POST', url: '/read', payload: { sql: 'SELECT $1::int', values: ['x'] } })
    t.equal(own.statusCode, 500)
    t.match(own.json(), { code: '22P02' }, 'the caller\'s own error passes through')
    // The connection that ran a refused write is as good as before: the read-only setting ended with it.
    const write = await app.inject({ method: 'POST', url: '/notes', payload: { id, body: 'through write' } })
    t.equal(write.statusCode, 200)
    t.type(write.headers['x-scaleout-db-token'], 'string')
    t.same((await app.db.write.query("SELECT current_setting('transaction_read_only') AS ro")).rows, [{ ro: 'off' }])
  })
}

t.test('a read text that ends its own transaction is read-only up to that COMMIT only, as the README says', async (t) => {
  const app = await instance(t, {})
  await app.db.write.query(ADD_NOTE)
  const id = nextId++
  const res = await app.inject({ method: 'POST', url: '/read', payload: { sql: `SELECT 1 AS a; COMMIT; SELECT add_note(${id}, 'after commit')::int AS n` } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), [[{ a: 1 }], [], [{ n: id }]])
  t.same((await app.db.write.query('SELECT body FROM notes WHERE id = $1', [id])).rows, [{ body: 'after commit' }])
})
