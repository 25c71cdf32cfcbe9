import t from 'tap'
import type { PostgresCluster } from '../helpers/postgres.js'
import { sleep } from '../helpers/ports.js'
import { build, SECRET, startNotesCluster } from './setup.js'

// A statement past its deadline on a live replica is the statement's fault (a report over a range
// the client picks), not the replica's: it must neither take the replica out of rotation for every
// client nor be sent again to the primary. Only a replica that does not answer the cancel is hung.

let cluster: PostgresCluster
t.before(async () => { cluster = await startNotesCluster() })
t.teardown(async () => { await cluster.stop() })

/** As slow as the client asks: past any budget here, and cancelled by the server at once. */
const SLOW = 'SELECT pg_sleep($1::int)::text AS c'

t.test('slow statements on a live replica: 503 each, the replica stays in rotation, nothing is retried on the primary', async (t) => {
  const app = await build(t, {
    primary: cluster.primary.url,
    replicas: cluster.replica.url,
    secret: SECRET,
    routeHeader: true,
    timeout: '1s',
    sampleInterval: '1h',
    quarantineAfter: 2
  }, {}, (app) => {
    app.get('/report', async (request) => {
      const { rows } = await request.db.read.query<{ c: string }>(SLOW, [Number((request.query as { n: string }).n)])
      return { count: rows[0]?.c }
    })
  })
  t.equal(app.db.stats().replicas[0]?.state, 'up')
  const primaryStatements = async (): Promise<number> => (await cluster.primary.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%pg_sleep($1::int)%' AND pid <> pg_backend_pid()")).rows[0]?.n as number

  const slow = await Promise.all([1, 2, 3].map(async () => await app.inject('/report?n=30')))
  t.same(slow.map((r) => [r.statusCode, r.json().code]), [[503, 'SCALEOUT_ERR_DB_TIMEOUT'], [503, 'SCALEOUT_ERR_DB_TIMEOUT'], [503, 'SCALEOUT_ERR_DB_TIMEOUT']])
  t.equal(await primaryStatements(), 0, 'none was sent to the primary')
  // What a cancel that went unanswered would count comes after 1 s at most.
  await sleep(1200)
  const stats = app.db.stats()
  t.match(stats.replicas[0], { state: 'up', failures: 0 })
  t.equal(stats.routes.fallback, 0)
  const other = await app.inject('/notes/1')
  t.same([other.json(), other.headers['x-scaleout-db-route']], [{ body: 'one' }, 'replica;reason=replica'], 'another client still reads on the replica')
})
