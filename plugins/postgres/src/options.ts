import { checkBoolean, checkCookieAttributes, checkCookieName, checkDuration, checkInteger, checkKeys, checkOptions, checkSecrets, invalid, isPlainObject, type CookieAttributes } from '@scaleout/core'
import pg from 'pg'
import { DbNotConfiguredError, PLUGIN } from './errors.js'
import type { PostgresOptions } from './types.js'

/** One host as the plugin uses it: a pool it creates from `config`, or one the caller passed. */
export type HostSpec =
  | { readonly kind: 'config', readonly config: pg.PoolConfig, readonly weight: number, readonly label: string }
  | { readonly kind: 'pool', readonly pool: pg.Pool, readonly weight: number, readonly label: string }

export interface CookieSettings extends CookieAttributes {
  readonly name: string
  readonly maxAgeSeconds: number
}

export interface Settings {
  readonly primary: HostSpec
  readonly replicas: readonly HostSpec[]
  readonly secrets: readonly string[]
  readonly timeout: number
  readonly transactionTimeout: number
  readonly replicaWait: number
  readonly maxLag: number
  readonly maxLagBytes: number
  readonly sampleInterval: number
  readonly quarantineAfter: number
  readonly recoverAfter: number
  /** null: not behind PgBouncer; else its version as [major, minor]. */
  readonly pgbouncer: readonly [number, number] | null
  readonly cookie: CookieSettings | null
  readonly routeHeader: boolean
  readonly poolSize: number
}

const KNOWN = [
  'primary', 'replicas', 'secret', 'timeout', 'transactionTimeout', 'replicaWait', 'maxLag', 'maxLagBytes', 'sampleInterval',
  'quarantineAfter', 'recoverAfter', 'pgbouncer', 'cookie', 'routeHeader', 'poolSize'
]
const KNOWN_COOKIE = ['name', 'path', 'domain', 'secure', 'sameSite', 'httpOnly', 'partitioned']
// What a host object may hold: pg's connection settings, the pool's, and our weight.
const KNOWN_HOST = [
  'connectionString', 'host', 'port', 'database', 'user', 'password', 'ssl', 'application_name', 'max',
  'idleTimeoutMillis', 'keepAlive', 'keepAliveInitialDelayMillis', 'statement_timeout', 'lock_timeout',
  'idle_in_transaction_session_timeout', 'options', 'weight', 'pool'
]
// Startup parameters PgBouncer refuses (and a session setting would not survive transaction pooling).
const STARTUP_PARAMETERS = ['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'options']
const HOUR = 3_600_000

function duration (option: string, value: unknown, fallback: number, min: number): number {
  return value === undefined ? fallback : checkDuration(PLUGIN, option, value, { min, max: HOUR })
}

function secrets (value: unknown, needed: boolean): string[] {
  if (value === undefined && !needed) return []
  return checkSecrets(PLUGIN, 'secret', value, ': read-your-writes tokens are signed with it, and every instance needs the same one')
}

// A socket directory as pg spells it, with credentials and no host: `postgres://u:p@/app?host=/dir`.
// WHATWG URLs refuse credentials without a host, so it is read with a stand-in one (the
// connection string itself goes to pg as it was written).
const NO_HOST = /^(postgres(?:ql)?:\/\/[^/?#]*@)(?=[/?#]|$)/i
const STAND_IN = 'socket.invalid'

function urlLabel (url: URL): string {
  // pg takes `host` and `port` parameters over the URL's own (a socket directory, usually).
  const named = url.hostname !== '' && url.hostname !== STAND_IN ? url.hostname : 'localhost'
  const host = url.searchParams.get('host') ?? named
  const port = url.searchParams.get('port') ?? (url.port !== '' ? url.port : '5432')
  return `${host}:${port}/${decodeURIComponent(url.pathname.slice(1))}`
}

function parseUrl (option: string, value: string): URL {
  let url: URL | undefined
  try {
    url = new URL(value.replace(NO_HOST, `$1${STAND_IN}`))
  } catch {}
  if (url === undefined || (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')) {
    throw invalid(PLUGIN, option, 'a postgres:// or postgresql:// URL')
  }
  return url
}

function refuseStartupParameters (option: string, names: Iterable<string>, pgbouncer: boolean): void {
  if (!pgbouncer) return
  for (const name of names) {
    if (STARTUP_PARAMETERS.includes(name)) {
      throw invalid(PLUGIN, `${option}.${name}`, 'nothing behind PgBouncer, which refuses startup parameters: use SET LOCAL inside fastify.db.transaction(), or a role default (ALTER ROLE ... SET)')
    }
  }
}

function isPool (value: unknown): value is pg.Pool {
  return value instanceof pg.Pool || (typeof value === 'object' && value !== null && typeof (value as pg.Pool).connect === 'function' &&
    typeof (value as pg.Pool).query === 'function' && typeof (value as pg.Pool).on === 'function')
}

function poolLabel (pool: pg.Pool): string {
  // A pool from another copy of pg may not expose its options.
  const o: pg.PoolOptions = pool.options ?? {}
  if (typeof o.connectionString === 'string') {
    try {
      return urlLabel(new URL(o.connectionString))
    } catch {}
  }
  return `${o.host ?? 'localhost'}:${o.port ?? 5432}/${o.database ?? ''}`
}

function weight (option: string, value: unknown): number {
  if (value === undefined) return 1
  if (option === 'primary') throw invalid(PLUGIN, `${option}.weight`, 'no weight: weights share reads among replicas')
  return checkInteger(PLUGIN, `${option}.weight`, value, 1, 1000)
}

/** A URL string, a pg config object (with an optional weight) or a pg.Pool ({ pool, weight } for a weighted one). */
export function hostSpec (option: string, value: unknown, pgbouncer: boolean): HostSpec {
  if (typeof value === 'string') {
    const url = parseUrl(option, value)
    refuseStartupParameters(option, url.searchParams.keys(), pgbouncer)
    return { kind: 'config', config: { connectionString: value }, weight: 1, label: urlLabel(url) }
  }
  if (isPool(value)) return { kind: 'pool', pool: value, weight: 1, label: poolLabel(value) }
  if (!isPlainObject(value)) throw invalid(PLUGIN, option, 'a postgres:// URL, a pg config object or a pg.Pool')
  checkKeys(PLUGIN, option, value, KNOWN_HOST)
  if (value.pool !== undefined) {
    if (!isPool(value.pool) || Object.keys(value).some((k) => k !== 'pool' && k !== 'weight')) {
      throw invalid(PLUGIN, `${option}.pool`, 'a pg.Pool, with `weight` as the only other key')
    }
    return { kind: 'pool', pool: value.pool, weight: weight(option, value.weight), label: poolLabel(value.pool) }
  }
  refuseStartupParameters(option, Object.keys(value), pgbouncer)
  const { weight: w, ...config } = value
  let label: string
  if (config.connectionString !== undefined) {
    if (typeof config.connectionString !== 'string') throw invalid(PLUGIN, `${option}.connectionString`, 'a postgres:// or postgresql:// URL')
    const url = parseUrl(`${option}.connectionString`, config.connectionString)
    refuseStartupParameters(option, url.searchParams.keys(), pgbouncer)
    label = urlLabel(url)
  } else {
    if (config.host !== undefined && (typeof config.host !== 'string' || config.host === '')) throw invalid(PLUGIN, `${option}.host`, 'a host name, address or socket directory')
    if (config.port !== undefined) checkInteger(PLUGIN, `${option}.port`, config.port, 1, 65535)
    if (config.database !== undefined && typeof config.database !== 'string') throw invalid(PLUGIN, `${option}.database`, 'a database name')
    label = `${(config.host as string | undefined) ?? 'localhost'}:${(config.port as number | undefined) ?? 5432}/${(config.database as string | undefined) ?? ''}`
  }
  if (config.max !== undefined) checkInteger(PLUGIN, `${option}.max`, config.max, 1, 10_000)
  return { kind: 'config', config: config as pg.PoolConfig, weight: weight(option, w), label }
}

function replicaList (value: unknown, pgbouncer: boolean): HostSpec[] {
  if (value === undefined) {
    const env = process.env.DATABASE_REPLICA_URL ?? ''
    return env.split(',').map((s) => s.trim()).filter((s) => s !== '').map((url, i) => hostSpec(`DATABASE_REPLICA_URL[${i}]`, url, pgbouncer))
  }
  // One string of several URLs parses as one URL (of a host that does not exist).
  if (typeof value === 'string' && /,\s*postgres(?:ql)?:/i.test(value)) throw invalid(PLUGIN, 'replicas', 'an array of replicas, not one string with commas (DATABASE_REPLICA_URL is the comma-separated form)')
  const list = Array.isArray(value) ? value : [value]
  if (list.length > 64) throw invalid(PLUGIN, 'replicas', 'at most 64 replicas')
  return list.map((item, i) => hostSpec(`replicas[${i}]`, item, pgbouncer))
}

function pgbouncerVersion (value: unknown): readonly [number, number] | null {
  if (value === undefined || value === false) return null
  // `true` assumes the oldest PgBouncer with transaction pooling we support: the strictest rules.
  if (value === true) return [1, 0]
  const match = typeof value === 'string' ? /^(\d{1,3})\.(\d{1,3})(?:\.\d{1,3})?$/.exec(value) : null
  if (match === null) throw invalid(PLUGIN, 'pgbouncer', 'true, false or a PgBouncer version such as "1.18"')
  return [Number(match[1]), Number(match[2])]
}

function cookie (value: unknown, maxAgeSeconds: number): CookieSettings | null {
  if (value === false) return null
  const c = value === undefined ? {} : value
  if (!isPlainObject(c)) throw invalid(PLUGIN, 'cookie', 'false or an object of cookie attributes')
  checkKeys(PLUGIN, 'cookie', c, KNOWN_COOKIE)
  const name = checkCookieName(PLUGIN, 'cookie.name', c.name ?? 'scaleout-db-token')
  return { ...checkCookieAttributes(PLUGIN, 'cookie', c), name, maxAgeSeconds }
}

/** A wait that leaves the primary time to answer: under `timeout`, given or not. */
function replicaWait (value: unknown, timeout: number): number {
  const wait = duration('replicaWait', value, 50, 0)
  if (value !== undefined && wait >= timeout) throw invalid(PLUGIN, 'replicaWait', `less than \`timeout\` (${timeout}ms): a read that waited it out would have no time left for the primary`)
  return wait
}

/** Checks and normalises every option; throws SCALEOUT_ERR_INVALID_OPTION naming the first bad one. */
export function normalize (options: PostgresOptions | undefined): Settings {
  const o = checkOptions(PLUGIN, options, KNOWN)
  const pgbouncer = pgbouncerVersion(o.pgbouncer)
  const primaryValue = o.primary ?? (process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== '' ? process.env.DATABASE_URL : undefined)
  if (primaryValue === undefined) throw new DbNotConfiguredError()
  const primary = hostSpec(o.primary === undefined ? 'DATABASE_URL' : 'primary', primaryValue, pgbouncer !== null)
  const replicas = replicaList(o.replicas, pgbouncer !== null)
  const timeout = duration('timeout', o.timeout, 2000, 1)
  const maxLag = duration('maxLag', o.maxLag, 10_000, 1)
  const sampleInterval = duration('sampleInterval', o.sampleInterval, 1000, 10)
  return {
    primary,
    replicas,
    secrets: secrets(o.secret, replicas.length > 0),
    timeout,
    transactionTimeout: duration('transactionTimeout', o.transactionTimeout, 30_000, 1),
    replicaWait: replicaWait(o.replicaWait, timeout),
    maxLag,
    maxLagBytes: o.maxLagBytes === undefined ? Number.MAX_SAFE_INTEGER : checkInteger(PLUGIN, 'maxLagBytes', o.maxLagBytes, 1),
    sampleInterval,
    quarantineAfter: o.quarantineAfter === undefined ? 2 : checkInteger(PLUGIN, 'quarantineAfter', o.quarantineAfter, 1, 100),
    recoverAfter: o.recoverAfter === undefined ? 2 : checkInteger(PLUGIN, 'recoverAfter', o.recoverAfter, 1, 100),
    pgbouncer,
    // Long enough to outlive any lag an in-rotation replica can have, short enough not to linger.
    cookie: cookie(o.cookie, Math.max(60, Math.ceil((2 * maxLag + 4 * sampleInterval) / 1000))),
    routeHeader: o.routeHeader === undefined ? false : checkBoolean(PLUGIN, 'routeHeader', o.routeHeader),
    poolSize: o.poolSize === undefined ? 10 : checkInteger(PLUGIN, 'poolSize', o.poolSize, 1, 10_000)
  }
}
