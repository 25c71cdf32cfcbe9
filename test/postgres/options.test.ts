import t from 'tap'
import Fastify from 'fastify'
import pg from 'pg'
import postgres, { type PostgresOptions } from '@scaleout/postgres'
import { normalize } from '../../plugins/postgres/src/options.js'
import { freePort } from '../helpers/ports.js'

// Options are checked before anything is decorated or connected: a bad one fails registration
// with a coded error naming it and what was expected. No server is needed: nothing listens on `url`.

const INVALID = 'SCALEOUT_ERR_INVALID_OPTION'
const SECRET = 's'.repeat(32)
let url: string
t.before(async () => { url = `postgres://u:p@127.0.0.1:${await freePort()}/db` })

async function register (options: unknown): Promise<void> {
  const app = Fastify()
  try {
    await app.register(postgres, options as PostgresOptions)
    await app.ready()
  } finally {
    await app.close()
  }
}

t.test('invalid options fail registration with a coded error naming the option', async (t) => {
  const cases: Array<[() => unknown, RegExp]> = [
    [() => 'nope', /option `options` is invalid: expected an object/],
    [() => ({ primary: url, replica: [url] }), /option `replica` is invalid: expected no such option: did you mean `replicas`\? the options are primary, replicas, /],
    [() => ({ primary: url, maxlag: 5 }), /option `maxlag` is invalid: expected no such option: did you mean `maxLag`\?/],
    [() => ({ primary: url, zzzzzzzzzzzz: 5 }), /option `zzzzzzzzzzzz` is invalid: expected no such option: the options are/],
    [() => ({ primary: url, prefix: '/db' }), /option `prefix` is invalid: expected no such option: `prefix` is a Fastify register option, which Fastify ignores for plugins wrapped in fastify-plugin/],
    [() => ({ primary: 'mysql://x/y' }), /option `primary` is invalid: expected a postgres:\/\/ or postgresql:\/\/ URL/],
    [() => ({ primary: 'not a url' }), /option `primary` is invalid: expected a postgres:\/\/ or postgresql:\/\/ URL/],
    [() => ({ primary: 42 }), /option `primary` is invalid: expected a postgres:\/\/ URL, a pg config object or a pg\.Pool/],
    [() => ({ primary: { hots: 'x' } }), /option `primary\.hots` is invalid: expected no such option: did you mean `host`\?/],
    [() => ({ primary: { host: '' } }), /option `primary\.host` is invalid: expected a host name, address or socket directory/],
    [() => ({ primary: { host: 'h', port: 70000 } }), /option `primary\.port` is invalid: expected an integer from 1 to 65535/],
    [() => ({ primary: { host: 'h', database: 5 } }), /option `primary\.database` is invalid: expected a database name/],
    [() => ({ primary: { connectionString: 5 } }), /option `primary\.connectionString` is invalid: expected a postgres:\/\/ or postgresql:\/\/ URL/],
    [() => ({ primary: { connectionString: 'http://x' } }), /option `primary\.connectionString` is invalid/],
    [() => ({ primary: { host: 'h', max: 0 } }), /option `primary\.max` is invalid: expected an integer from 1 to 10000/],
    [() => ({ primary: url, replicas: [{ host: 'h', weight: 0 }], secret: SECRET }), /option `replicas\[0\]\.weight` is invalid: expected an integer from 1 to 1000/],
    [() => ({ primary: url, replicas: [{ pool: {} }], secret: SECRET }), /option `replicas\[0\]\.pool` is invalid: expected a pg\.Pool, with `weight` as the only other key/],
    [() => ({ primary: url, replicas: [{ pool: new pg.Pool(), host: 'x' }], secret: SECRET }), /option `replicas\[0\]\.pool` is invalid/],
    [() => ({ primary: url, replicas: Array.from({ length: 65 }, () => url), secret: SECRET }), /option `replicas` is invalid: expected at most 64 replicas/],
    [() => ({ primary: url, replicas: [url] }), /option `secret` is invalid: expected a string of at least 32 characters, or a non-empty array of them \(the first signs\): read-your-writes tokens are signed with it, and every instance needs the same one/],
    [() => ({ primary: url, replicas: [url], secret: 'short' }), /option `secret` is invalid/],
    [() => ({ primary: url, replicas: [url], secret: [] }), /option `secret` is invalid/],
    [() => ({ primary: url, timeout: 0 }), /option `timeout` is invalid: expected a duration from 1ms to 1h/],
    [() => ({ primary: url, timeout: '2 days' }), /option `timeout` is invalid: expected a duration/],
    [() => ({ primary: url, timeout: -1 }), /option `timeout` is invalid/],
    [() => ({ primary: url, maxLag: '2h' }), /option `maxLag` is invalid: expected a duration from 1ms to 1h/],
    [() => ({ primary: url, sampleInterval: 5 }), /option `sampleInterval` is invalid: expected a duration from 10ms to 1h/],
    [() => ({ primary: url, replicaWait: 'soon' }), /option `replicaWait` is invalid/],
    [() => ({ primary: url, replicaWait: '2h' }), /option `replicaWait` is invalid: expected a duration from 0ms to 1h: a number of milliseconds or a string such as "500ms"/],
    [() => ({ primary: url, replicaWait: '2s' }), /option `replicaWait` is invalid: expected less than `timeout` \(2000ms\): a read that waited it out would have no time left for the primary/],
    [() => ({ primary: url, replicaWait: 500, timeout: 500 }), /option `replicaWait` is invalid: expected less than `timeout` \(500ms\)/],
    [() => ({ primary: url, replicas: 'postgres://a/app,postgres://b/app', secret: SECRET }), /option `replicas` is invalid: expected an array of replicas, not one string with commas \(DATABASE_REPLICA_URL is the comma-separated form\)/],
    [() => ({ primary: { host: 'h', weight: 2 } }), /option `primary\.weight` is invalid: expected no weight: weights share reads among replicas/],
    [() => ({ primary: { pool: new pg.Pool(), weight: 2 } }), /option `primary\.weight` is invalid/],
    [() => ({ primary: url, logLevel: 'warn' }), /option `logLevel` is invalid: expected no such option: `logLevel` is a Fastify register option/],
    [() => ({ primary: url, logSerializers: {} }), /option `logSerializers` is invalid: expected no such option: `logSerializers` is a Fastify register option/],
    [() => ({ primary: url, maxLagBytes: 0 }), /option `maxLagBytes` is invalid: expected an integer from 1 to/],
    [() => ({ primary: url, quarantineAfter: 0 }), /option `quarantineAfter` is invalid: expected an integer from 1 to 100/],
    [() => ({ primary: url, recoverAfter: 1.5 }), /option `recoverAfter` is invalid/],
    [() => ({ primary: url, poolSize: 0 }), /option `poolSize` is invalid/],
    [() => ({ primary: url, routeHeader: 'yes' }), /option `routeHeader` is invalid: expected a boolean/],
    [() => ({ primary: url, pgbouncer: 'latest' }), /option `pgbouncer` is invalid: expected true, false or a PgBouncer version such as "1\.18"/],
    [() => ({ primary: url, pgbouncer: 1.18 }), /option `pgbouncer` is invalid/],
    [() => ({ primary: url, cookie: 'x' }), /option `cookie` is invalid: expected false or an object of cookie attributes/],
    [() => ({ primary: url, cookie: { nmae: 'x' } }), /option `cookie\.nmae` is invalid: expected no such option: did you mean `name`\?/],
    [() => ({ primary: url, cookie: { name: 'a b' } }), /option `cookie\.name` is invalid: expected a cookie name of 1 to 64 token characters/],
    [() => ({ primary: url, cookie: { path: 'app' } }), /option `cookie\.path` is invalid/],
    [() => ({ primary: url, cookie: { domain: 'a..b' } }), /option `cookie\.domain` is invalid/],
    [() => ({ primary: url, cookie: { secure: 'yes' } }), /option `cookie\.secure` is invalid/],
    [() => ({ primary: url, cookie: { sameSite: 'lots' } }), /option `cookie\.sameSite` is invalid/],
    [() => ({ primary: url, cookie: { sameSite: 'none' } }), /option `cookie\.sameSite` is invalid: expected "lax" or "strict" unless cookie\.secure is true/],
    [() => ({ primary: { host: 'h', statement_timeout: 5 }, pgbouncer: '1.18' }), /option `primary\.statement_timeout` is invalid: expected nothing behind PgBouncer/],
    [() => ({ primary: { connectionString: `${url}?statement_timeout=5` }, pgbouncer: true }), /option `primary\.statement_timeout` is invalid/],
    [() => ({ primary: url, replicas: `${url}?options=x`, pgbouncer: true, secret: SECRET }), /option `replicas\[0\]\.options` is invalid/]
  ]
  for (const [options, message] of cases) {
    await t.rejects(register(options()), { code: INVALID, statusCode: 500, message }, String(message))
  }
})

t.test('a bad option decorates nothing', async (t) => {
  const app = Fastify()
  await t.rejects(async () => { await app.register(postgres, { primary: url, timeout: 0 }).ready() }, { code: INVALID })
  t.equal(app.hasDecorator('db'), false)
  t.equal(app.hasRequestDecorator('db'), false)
})

t.test('valid forms normalise to their defaults', async (t) => {
  const settings = normalize({ primary: url })
  t.same(settings.replicas, [])
  t.equal(settings.timeout, 2000)
  t.equal(settings.replicaWait, 50)
  t.equal(settings.maxLag, 10_000)
  t.equal(settings.maxLagBytes, Number.MAX_SAFE_INTEGER)
  t.equal(settings.sampleInterval, 1000)
  t.equal(settings.quarantineAfter, 2)
  t.equal(settings.recoverAfter, 2)
  t.equal(settings.pgbouncer, null)
  t.equal(settings.routeHeader, false)
  t.equal(settings.poolSize, 10)
  t.same(settings.cookie, { name: 'scaleout-db-token', path: '/', domain: undefined, secure: 'auto', sameSite: 'lax', httpOnly: true, partitioned: false, maxAgeSeconds: 60 })
  t.same(settings.primary, { kind: 'config', config: { connectionString: url }, weight: 1, label: url.replace(/^postgres:\/\/u:p@/, '') })

  const full = normalize({
    primary: { host: '/var/run/postgresql', database: 'app', max: 5 },
    replicas: [{ connectionString: 'postgresql:///app?host=/sock', weight: 3 }, 'postgres://r2/app'],
    secret: [SECRET, SECRET + 'x'],
    timeout: '500ms',
    replicaWait: 0,
    maxLag: '30s',
    maxLagBytes: 16_000_000,
    sampleInterval: '250ms',
    pgbouncer: '1.21.0',
    cookie: false,
    routeHeader: true
  } as PostgresOptions)
  t.equal(full.primary.label, '/var/run/postgresql:5432/app')
  t.same(full.replicas.map((r) => [r.label, r.weight]), [['/sock:5432/app', 3], ['r2:5432/app', 1]])
  t.same(full.pgbouncer, [1, 21])
  t.equal(full.cookie, null)
  t.equal(full.timeout, 500)
  t.equal(full.maxLag, 30_000)
  t.same(normalize({ primary: { port: 6432 }, pgbouncer: true }).pgbouncer, [1, 0])
  t.equal(normalize({ primary: { port: 6432 } }).primary.label, 'localhost:6432/')
  t.equal(normalize({ primary: url, maxLag: '1h', sampleInterval: 10 }).cookie?.maxAgeSeconds, 7201)
  t.equal(normalize({ primary: url, timeout: 30 }).replicaWait, 50, 'the default wait is cut at run time, not refused')

  t.equal(normalize({ primary: 'postgres:///app' }).primary.label, 'localhost:5432/app')
  // A socket directory with credentials and no host, as pg accepts it (WHATWG URLs alone refuse it).
  const socket = normalize({ primary: 'postgres://u:p@/app?host=/var/run/postgresql&port=5433' }).primary
  t.same(socket, { kind: 'config', config: { connectionString: 'postgres://u:p@/app?host=/var/run/postgresql&port=5433' }, weight: 1, label: '/var/run/postgresql:5433/app' })
  t.equal(normalize({ primary: 'postgresql://u@?host=/sock' }).primary.label, '/sock:5432/')
  t.equal(normalize({ primary: 'postgres://u:p@db.example:6432/app?host=/sock' }).primary.label, '/sock:6432/app', 'pg takes the host parameter over the URL\'s host')
  t.equal(normalize({ primary: 'postgres://u:p@db.example:6432/app?port=7000' }).primary.label, 'db.example:7000/app', 'and the port parameter over its port')
  t.throws(() => normalize(undefined), { code: 'SCALEOUT_ERR_DB_NOT_CONFIGURED' })
  t.throws(() => normalize(null as never), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `options` is invalid: expected an object/ })
  // A pool from another copy of pg: recognised by shape.
  const foreign = { connect: async () => {}, query: async () => {}, on: () => foreign }
  t.same(normalize({ primary: foreign as never }).primary, { kind: 'pool', pool: foreign, weight: 1, label: 'localhost:5432/' })
  const pool = new pg.Pool({ connectionString: 'postgres://u@db.internal:6000/app' })
  const other = new pg.Pool({ host: 'h2', port: 7000, database: 'x' })
  const bare = new pg.Pool()
  const odd = new pg.Pool({ connectionString: 'not a url' })
  const pools = normalize({ primary: pool, replicas: [{ pool: other, weight: 2 }, bare, odd], secret: SECRET })
  t.same([pools.primary.label, ...pools.replicas.map((r) => r.label)], ['db.internal:6000/app', 'h2:7000/x', 'localhost:5432/', 'localhost:5432/'])
  t.equal(pools.replicas[0]?.weight, 2)
  for (const p of [pool, other, bare, odd]) await p.end()
})
