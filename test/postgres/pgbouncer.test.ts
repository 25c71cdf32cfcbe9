import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import Fastify, { type FastifyInstance } from 'fastify'
import pg from 'pg'
import postgres, { type PostgresOptions } from '@scaleout/postgres'
import { appFor } from '../helpers/fixtures.js'
import { PgBouncer, pgbouncerVersion, SHIPPED } from '../helpers/pgbouncer.js'
import { PostgresCluster } from '../helpers/postgres.js'
import { waitUntil } from '../helpers/ports.js'
import { build, NOTES, SECRET, tokenCookie } from './setup.js'

// Everything through a real PgBouncer in transaction mode, running deploy/pgbouncer.ini as shipped
// (hosts, ports and paths replaced). The primary is killed last.

let cluster: PostgresCluster
let bouncer: PgBouncer
let nextId = 1
t.before(async () => {
  cluster = await PostgresCluster.start(1)
  bouncer = await PgBouncer.start(cluster.primary, cluster.replica)
  const setup = await build(t, { primary: bouncer.primaryUrl, pgbouncer: true })
  await setup.db.write.query(NOTES)
  await setup.db.write.query("INSERT INTO notes (id, body) VALUES (0, 'zero')")
  await setup.close()
  await cluster.replica.waitCaughtUp(cluster.primary)
})
t.teardown(async () => {
  await bouncer.stop()
  await cluster.stop()
})

function options (extra: Partial<PostgresOptions> = {}): PostgresOptions {
  return { primary: bouncer.primaryUrl, replicas: [bouncer.replicaUrl], secret: SECRET, pgbouncer: pgbouncerVersion(), routeHeader: true, sampleInterval: 100, maxLag: 1000, ...extra }
}

async function instance (t: Test, extra: Partial<PostgresOptions> = {}): Promise<FastifyInstance> {
  return await build(t, options(extra), {}, (app) => {
    app.post('/run', async (request) => {
      const { sql } = request.body as { sql: string }
      return (await request.db.write.query(sql)).rows
    })
  })
}

t.test('the tests run deploy/pgbouncer.ini as shipped: transaction pooling with the guide settings, only hosts, ports and paths replaced', async (t) => {
  const shipped = readFileSync(SHIPPED, 'utf8').split('\n')
  const running = bouncer.config.split('\n')
  t.equal(running.length, shipped.length)
  const changed = shipped.map((line, i) => [line, running[i]]).filter(([a, b]) => a !== b).map(([a]) => (a as string).split(/ = |=/)[0])
  t.same(changed, ['app', 'app_replica', 'listen_addr', 'listen_port', 'unix_socket_dir', 'pidfile', 'logfile', 'auth_file'])
  for (const line of ['pool_mode = transaction', 'max_client_conn = 1000', 'default_pool_size = 20', 'listen_port = 6432', 'auth_type = scram-sha-256']) {
    t.ok(shipped.includes(line), line)
  }
  t.match(pgbouncerVersion(), /^\d+\.\d+/)
})

t.test('seed API through PgBouncer: writes, reads, transactions with SET LOCAL and a transaction-level advisory lock', async (t) => {
  const app = await instance(t)
  const id = nextId++
  await app.db.write.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [id, 'via bouncer'])
  const inTx = await app.db.transaction(async (tx) => {
    await tx.query('SET LOCAL statement_timeout = 5000')
    await tx.query('SELECT pg_advisory_xact_lock(42)')
    const { rows } = await tx.query<{ setting: string }>("SELECT current_setting('statement_timeout') AS setting")
    return rows[0]?.setting
  })
  t.equal(inTx, '5s', 'SET LOCAL holds inside the transaction')
  const after = await app.db.write.query<{ setting: string }>("SELECT current_setting('statement_timeout') AS setting")
  t.equal(after.rows[0]?.setting, '0', 'and leaks into no other client')
  await cluster.replica.waitCaughtUp(cluster.primary)
  await waitUntil('replica in rotation', () => app.db.stats().replicas[0]?.state === 'up')
  const res = await app.inject(`/notes/${id}`)
  t.same(res.json(), { body: 'via bouncer' })
  t.equal(res.headers['x-scaleout-db-route'], 'replica;reason=replica')
})

t.test('every refused statement gives its coded error, before anything is sent', async (t) => {
  const app = await instance(t)
  const cases: Array<[string, RegExp]> = [
    ['LISTEN jobs', /^LISTEN is refused/],
    ['SET statement_timeout = 0', /^A session SET or RESET is refused/],
    ['RESET ALL', /^A session SET or RESET is refused/],
    ['SELECT pg_advisory_lock(1)', /^A session-level advisory lock is refused/],
    ['PREPARE q AS SELECT 1', /^PREPARE is refused/]
  ]
  for (const [sql, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/run', payload: { sql } })
    t.equal(res.statusCode, 500, sql)
    t.equal(res.json().code, 'SCALEOUT_ERR_DB_SESSION_STATE')
    t.match(res.json().message, message)
    await t.rejects(app.db.read.query(sql), { code: 'SCALEOUT_ERR_DB_SESSION_STATE' })
    await t.rejects(app.db.transaction(async (tx) => await tx.query(sql)), { code: 'SCALEOUT_ERR_DB_SESSION_STATE' })
  }
  await t.rejects(app.db.read.query({ name: 'by-name', text: 'SELECT 1' }), { code: 'SCALEOUT_ERR_DB_SESSION_STATE', message: /named prepared statement/ })
  const { rows } = await cluster.primary.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'LISTEN%' OR query LIKE 'PREPARE%'")
  t.same(rows, [{ n: 0 }], 'none of them reached the server')
})

// Client A's statement must leave nothing on the server connection that client B's next statement
// gets (PgBouncer hands out the connection used last). Each text below hides session state from a
// text-only reading, or makes it in a body.
t.test('through PgBouncer, no statement leaves session state for another client: dollar-quote tags with non-ASCII letters or over 64 characters, identifiers with non-ASCII letters or a $ before $, backslashes with standard_conforming_strings off, DO blocks, SET local.x, EXPLAIN ANALYZE CREATE TEMP, dblink_connect(), LOAD, setseed(), a collation, operator or text search configuration in pg_temp, UPDATE pg_settings after WITH, a temporary replication slot, a replication origin set up for the session, pg_backup_start()', async (t) => {
  const a = await instance(t)
  const b = new pg.Client({ connectionString: bouncer.primaryUrl })
  await b.connect()
  t.teardown(async () => { await b.end() })
  const timeout = "SELECT current_setting('statement_timeout') AS s"
  const tag = `$${'t'.repeat(70)}$`
  await b.query('CREATE EXTENSION IF NOT EXISTS dblink')
  await b.query("SELECT pg_replication_origin_create('leak_origin')")
  // Stops a backup under way on the session that runs it: 'leaked' when there was one.
  await b.query("CREATE FUNCTION backup_leaked() RETURNS text LANGUAGE plpgsql AS $$BEGIN PERFORM pg_backup_stop(false); RETURN 'leaked'; EXCEPTION WHEN object_not_in_prerequisite_state THEN RETURN '0'; END$$")
  // The first random() after setseed(0.25), read on a connection of the test's own.
  const direct = new pg.Client(cluster.primary.config)
  await direct.connect()
  const seeded = (await direct.query<{ r: string }>('SELECT setseed(0.25); SELECT random()::text AS r') as unknown as Array<pg.QueryResult<{ r: string }>>)[1]?.rows[0]?.r as string
  await direct.end()
  const c = cluster.primary.config
  const elsewhere = `host=${c.host as string} port=${c.port as number} user=${c.user as string} password=${c.password as string} dbname=${c.database as string}`
  const attacks: Array<[string, (run: (sql: string) => Promise<unknown>) => Promise<unknown>, string]> = [
    ['non-ASCII tag', async (run) => await run("SELECT $é$'$é$; SET statement_timeout = 4321; SELECT '1'"), timeout],
    ['non-ASCII identifier', async (run) => await run('SELECT 1 AS é$$; SET statement_timeout = 4321; --$$'), timeout],
    ['$ inside an identifier', async (run) => await run('SELECT 1 AS a$$x$; SET statement_timeout = 4321; SELECT $x$ $x$'), timeout],
    ['long tag', async (run) => await run(`SELECT ${tag}'${tag}; SET statement_timeout = 4321; SELECT '1'`), timeout],
    ['DO with PERFORM', async (run) => await run("DO $$BEGIN PERFORM set_config('statement_timeout', '4321', false); END$$"), timeout],
    ['WITH ... UPDATE pg_settings', async (run) => await run("WITH x AS (SELECT 1) UPDATE pg_settings SET setting = '4321' WHERE name = 'statement_timeout'"), timeout],
    ['DO with EXECUTE', async (run) => await run("DO 'BEGIN EXECUTE ''SET statement_timeout = 4321''; END'"), timeout],
    ['standard_conforming_strings off', async () => await a.db.transaction(async (tx) => {
      await tx.query('SET LOCAL standard_conforming_strings = off')
      await tx.query("SELECT 'x\\' '; SET statement_timeout = 4321; SELECT ''")
    }), timeout],
    ['SET"local".x', async (run) => await run('SET"local".user_id = \'4321\''), "SELECT coalesce(current_setting('local.user_id', true), '0') AS s"],
    ['SET local.x', async (run) => await run('SET local.user_id = \'4321\''), "SELECT coalesce(current_setting('local.user_id', true), '0') AS s"],
    ['dblink_connect', async (run) => await run(`SELECT dblink_connect('leak', '${elsewhere}')`), "SELECT coalesce(array_to_string(dblink_get_connections(), ','), '0') AS s"],
    ['EXPLAIN ANALYZE CREATE TEMP', async (run) => await run('EXPLAIN ANALYZE CREATE TEMP TABLE leak AS SELECT 1'), "SELECT CASE WHEN to_regclass('pg_temp.leak') IS NULL THEN '0' ELSE 'leaked' END AS s"],
    // Any kind of object in pg_temp stays with the session, not only tables and functions.
    ['CREATE COLLATION pg_temp', async (run) => await run('CREATE COLLATION pg_temp.leak FROM "C"'), "SELECT CASE WHEN to_regcollation('pg_temp.leak') IS NULL THEN '0' ELSE 'leaked' END AS s"],
    ['CREATE OPERATOR pg_temp', async (run) => await run('CREATE OPERATOR pg_temp.=== (leftarg = int, rightarg = int, function = int4eq)'), "SELECT CASE WHEN to_regoperator('pg_temp.===(int,int)') IS NULL THEN '0' ELSE 'leaked' END AS s"],
    ['CREATE TEXT SEARCH CONFIGURATION pg_temp', async (run) => await run('CREATE TEXT SEARCH CONFIGURATION pg_temp.leak (COPY = simple)'), 'SELECT count(*)::text AS s FROM pg_ts_config WHERE cfgnamespace = pg_my_temp_schema()'],
    // A loaded library defines its parameters on the session; a seed makes its next random() known.
    ['LOAD', async (run) => await run("LOAD 'auto_explain'"), "SELECT coalesce(current_setting('auto_explain.log_min_duration', true), '0') AS s"],
    ['setseed()', async (run) => await run('SELECT setseed(0.25)'), `SELECT CASE WHEN random() = ${seeded} THEN 'leaked' ELSE '0' END AS s`],
    // A temporary slot stays, active and holding WAL, as long as the server connection; an origin
    // set up for the session tags the next client's commits; a backup is the session's to stop.
    ['temporary replication slot', async (run) => await run("SELECT pg_create_physical_replication_slot('leak_slot', true, true)"), "SELECT count(*)::text AS s FROM pg_replication_slots WHERE slot_name = 'leak_slot'"],
    ['replication origin for the session', async (run) => await run("SELECT pg_replication_origin_session_setup('leak_origin')"), "SELECT CASE WHEN pg_replication_origin_session_is_setup() THEN 'leaked' ELSE '0' END AS s"],
    ['pg_backup_start()', async (run) => await run("SELECT pg_backup_start('leak')"), 'SELECT backup_leaked() AS s']
  ]
  for (const [name, attack, probe] of attacks) {
    const refused = await attack(async (sql) => await a.db.write.query(sql)).then(() => null, (err: { code?: string }) => err.code)
    const { rows } = await b.query<{ s: string }>(probe)
    t.same([refused, rows], ['SCALEOUT_ERR_DB_SESSION_STATE', [{ s: '0' }]], name)
  }
})

t.test('startup parameters PgBouncer refuses are refused at registration, naming the option and the alternative', async (t) => {
  for (const primary of [
    { connectionString: bouncer.primaryUrl, statement_timeout: 1000 },
    `${bouncer.primaryUrl}?options=-c%20search_path%3Dapp`
  ]) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(postgres, { primary, pgbouncer: true }).ready() }, {
      code: 'SCALEOUT_ERR_INVALID_OPTION',
      message: /option `primary\.(statement_timeout|options)` is invalid: expected nothing behind PgBouncer, which refuses startup parameters: use SET LOCAL/
    })
  }
  // Without `pgbouncer`, the same settings reach PostgreSQL directly.
  const direct = appFor(t)
  await direct.register(postgres, { primary: { ...cluster.primary.config, statement_timeout: 1234 } })
  const { rows } = await direct.db.write.query<{ s: string }>("SELECT current_setting('statement_timeout') AS s")
  t.same(rows, [{ s: '1234ms' }])
  await direct.db.write.query('SET work_mem = \'8MB\'')
})

t.test('through PgBouncer, 50 x (write on A, read at once on B), replica 3 s behind: 0 stale reads', async (t) => {
  const a = await instance(t, { maxLag: '10s', timeout: '10s' })
  const b = await instance(t, { maxLag: '10s', timeout: '10s' })
  await cluster.replica.setApplyDelay(3000)
  t.teardown(async () => {
    await cluster.replica.setApplyDelay(0)
    await cluster.replica.waitCaughtUp(cluster.primary)
  })
  let stale = 0
  const tokenless: string[] = []
  for (let batch = 0; batch < 5; batch++) {
    await Promise.all(Array.from({ length: 10 }, async () => {
      const id = nextId++
      const written = await a.inject({ method: 'POST', url: '/notes', payload: { id, body: `n${id}` } })
      const read = await b.inject({ url: `/notes/${id}`, headers: { cookie: tokenCookie(written) as string } })
      if (read.json().body !== `n${id}`) stale++
      tokenless.push(String((await b.inject('/notes/0')).headers['x-scaleout-db-route']))
    }))
  }
  t.equal(stale, 0)
  const onReplica = tokenless.filter((r) => r === 'replica;reason=replica').length
  t.ok(onReplica >= 48, `token-less reads on the replica: ${onReplica} of 50 (${[...new Set(tokenless)].join(' | ')})`)
})

t.test('through PgBouncer, lag past maxLag quarantines the replica and removing it brings it back', async (t) => {
  const app = await instance(t)
  await waitUntil('replica in rotation', () => app.db.stats().replicas[0]?.state === 'up')
  await cluster.replica.setApplyDelay(3000)
  await app.db.write.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [nextId++, 'lag'])
  await waitUntil('quarantined for lag', () => app.db.stats().replicas[0]?.state === 'lag')
  t.equal((await app.inject('/notes/0')).headers['x-scaleout-db-route'], 'primary;reason=quarantined')
  await cluster.replica.setApplyDelay(0)
  await waitUntil('back in rotation', () => app.db.stats().replicas[0]?.state === 'up')
  t.equal((await app.inject('/notes/0')).headers['x-scaleout-db-route'], 'replica;reason=replica')
})

// The sampler reads the replica on a connection of its own, but through PgBouncer that is one more
// client of the server connections PgBouncer shares among all its clients.
t.test('through PgBouncer, statements holding every server connection of the replica\'s database make samples wait there, and fail, until they end', async (t) => {
  const app = await instance(t, { timeout: 300, sampleInterval: 50 })
  await waitUntil('replica in rotation', () => app.db.stats().replicas[0]?.state === 'up')
  // default_pool_size as shipped (the first test checks it): every server connection to the replica.
  const clients = Array.from({ length: 20 }, () => new pg.Client({ connectionString: bouncer.replicaUrl }))
  t.teardown(async () => { await Promise.all(clients.map(async (c) => { await c.end() })) })
  await Promise.all(clients.map(async (c) => { await c.connect() }))
  const sleeping = Promise.all(clients.map(async (c) => await c.query('SELECT pg_sleep(3)')))
  await waitUntil('out of rotation', () => app.db.stats().replicas[0]?.state === 'down')
  await sleeping
  await waitUntil('back in rotation', () => app.db.stats().replicas[0]?.state === 'up')
  t.same(app.db.stats().replicas[0]?.pool, { total: 0, idle: 0, waiting: 0 }, 'no read ran: the samples alone failed')
})

/** Steady GETs until `during` is done; the bodies of those that were not 200. */
async function steady (app: FastifyInstance, during: () => Promise<void>): Promise<string[]> {
  const state = { running: true }
  const failed: string[] = []
  const workers = Array.from({ length: 4 }, async () => {
    while (state.running) {
      const res = await app.inject('/notes/0')
      if (res.statusCode !== 200) failed.push(res.body)
    }
  })
  try {
    await during()
  } finally {
    state.running = false
    await Promise.all(workers)
  }
  return failed
}

t.test('through PgBouncer, the replica killed and then paused under steady reads: 0 failed GETs, recovery without restart', async (t) => {
  // A deadline with room for a loaded CI machine: the retry on the primary gets half of it.
  const app = await instance(t, { timeout: '4s' })
  await waitUntil('replica in rotation', () => app.db.stats().replicas[0]?.state === 'up')
  const killed = await steady(app, async () => {
    await cluster.replica.kill()
    await waitUntil('out of rotation', () => app.db.stats().replicas[0]?.state === 'down')
    await cluster.replica.restart()
    await waitUntil('back in rotation', () => app.db.stats().replicas[0]?.state === 'up', 20_000)
  })
  t.same(killed, [], 'no failed GET')
  const paused = await steady(app, async () => {
    cluster.replica.pause()
    try {
      await waitUntil('out of rotation', () => app.db.stats().replicas[0]?.state === 'down')
    } finally {
      cluster.replica.resume()
    }
    await waitUntil('back in rotation', () => app.db.stats().replicas[0]?.state === 'up', 20_000)
  })
  t.same(paused, [], 'no failed GET')
})

t.test('through PgBouncer, the primary killed: writes answer a coded 503 within the deadline, token-less reads still served', async (t) => {
  const app = await instance(t)
  await waitUntil('replica in rotation', () => app.db.stats().replicas[0]?.state === 'up')
  await cluster.primary.kill()
  const write = await app.inject({ method: 'POST', url: '/notes', payload: { id: nextId++, body: 'x' } })
  t.equal(write.statusCode, 503)
  t.match(write.json().code, /^SCALEOUT_ERR_DB_(UNAVAILABLE|TIMEOUT|OUTCOME_UNKNOWN)$/)
  const read = await app.inject('/notes/0')
  t.equal(read.statusCode, 200)
  t.same(read.json(), { body: 'zero' })
})
