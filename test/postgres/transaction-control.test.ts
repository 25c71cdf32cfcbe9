import t from 'tap'
import { PostgresServer } from '../helpers/postgres.js'
import { build, NOTES, SECRET } from './setup.js'

// transaction() commits when its callback returns and rolls back when it throws. A tx.query text that
// ended the transaction itself (COMMIT, ROLLBACK, END, ...) made every statement after it run on its
// own, outside any transaction: a throw then rolled back nothing, and a request whose callback threw
// after such a COMMIT got no token for what it had committed.

let server: PostgresServer
t.before(async () => {
  server = await PostgresServer.start()
  await server.query(NOTES)
})
t.teardown(async () => { await server.stop() })
t.beforeEach(async () => { await server.query('TRUNCATE notes') })

const ENDING = ['COMMIT', 'end work', 'ROLLBACK', 'abort', 'COMMIT AND CHAIN', "PREPARE TRANSACTION 'x'", "INSERT INTO notes (id, body) VALUES (7, 'x'); COMMIT", "SELECT '\\''; COMMIT; --'"]

t.test('regression: a statement that ends the transaction is refused inside transaction(), before it is sent, and a throw still rolls back everything', async (t) => {
  const app = await build(t, { primary: server.url, secret: SECRET, sampleInterval: '1h' }, {}, (app) => {
    app.post('/tx', async (request) => {
      const { sql } = request.body as { sql: string }
      await request.db.transaction(async (tx) => {
        await tx.query("INSERT INTO notes (id, body) VALUES (1, 'one')")
        await tx.query(sql)
        await tx.query("INSERT INTO notes (id, body) VALUES (2, 'two')")
        throw new Error('undo')
      })
    })
  })
  for (const sql of ENDING) {
    const res = await app.inject({ method: 'POST', url: '/tx', payload: { sql } })
    t.equal(res.statusCode, 500, sql)
    t.equal(res.json().code, 'SCALEOUT_ERR_DB_TRANSACTION_CONTROL', sql)
    t.match(res.json().message, /^A statement that ends the transaction \(COMMIT, ROLLBACK, END, ABORT, PREPARE TRANSACTION\) is refused inside transaction\(\): .*; return from the callback to commit, or throw to roll back$/)
    t.equal(res.headers['x-scaleout-db-token'], undefined, 'nothing committed, no token')
    t.same((await server.query('SELECT id FROM notes')).rows, [], `${sql}: nothing committed`)
  }
})

t.test('savepoints, a BEGIN ATOMIC body\'s END and the words in strings stay allowed inside transaction()', async (t) => {
  const app = await build(t, { primary: server.url, sampleInterval: '1h' })
  await app.db.transaction(async (tx) => {
    await tx.query('SAVEPOINT a')
    await tx.query("INSERT INTO notes (id, body) VALUES (3, 'commit; rollback')")
    await tx.query('ROLLBACK TO SAVEPOINT a')
    await tx.query("INSERT INTO notes (id, body) VALUES (4, 'end')")
    await tx.query('RELEASE SAVEPOINT a')
    await tx.query('CREATE FUNCTION tc_atomic() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END')
    await tx.query('DROP FUNCTION tc_atomic()')
  })
  t.same((await server.query('SELECT id::int, body FROM notes')).rows, [{ id: 4, body: 'end' }])
})
