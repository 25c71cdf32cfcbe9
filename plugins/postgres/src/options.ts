import { checkBoolean, checkInteger, invalid, isPlainObject, parseDuration } from '@scaleout/core'
import pg from 'pg'
import { DbNotConfiguredError, PLUGIN } from './errors.js'
import type { PostgresOptions } from './types.js'

/** One host as the plugin uses it: a pool it creates from `config`, or one the caller passed. */
export type HostSpec =
  | { readonly kind: 'config', readonly config: pg.PoolConfig, readonly weight: number, readonly label: string }
  | { readonly kind: 'pool', readonly pool: pg.Pool, readonly weight: number, readonly label: string }

export interface CookieSettings {
  readonly name: string
  readonly path: string
  readonly domain: string | undefined
  readonly secure: boolean | 'auto'
  readonly sameSite: 'Lax' | 'Strict' | 'None'
  readonly maxAgeSeconds: number
}

export interface Settings {
  readonly primary: HostSpec
  readonly replicas: readonly HostSpec[]
  readonly secrets: readonly string[]
  readonly timeout: number
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
  'primary', 'replicas', 'secret', 'timeout', 'replicaWait', 'maxLag', 'maxLagBytes', 'sampleInterval',
  'quarantineAfter', 'recoverAfter', 'pgbouncer', 'cookie', 'routeHeader', 'poolSize'
]
// Fastify hands a plugin its register options too.
const REGISTER_KEYS = ['prefix', 'logLevel', 'logSerializers']
const KNOWN_COOKIE = ['name', 'path', 'domain', 'secure', 'sameSite']
// What a host object may hold: pg's connection settings, the pool's, and our weight.
const KNOWN_HOST = [
  'connectionString', 'host', 'port', 'database', 'user', 'password', 'ssl', 'application_name', 'max',
  'idleTimeoutMillis', 'keepAlive', 'keepAliveInitialDelayMillis', 'statement_timeout', 'lock_timeout',
  'idle_in_transaction_session_timeout', 'options', 'weight', 'pool'
]
// Startup parameters PgBouncer refuses (and a session setting would not survive transaction pooling).
const STARTUP_PARAMETERS = ['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'options']
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/
const DOMAIN = /^\.?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
// eslint-disable-next-line no-control-regex
const PATH = /^\/[^;\x00-\x1f\x7f]{0,255}$/
const SAME_SITE = { lax: 'Lax', strict: 'Strict', none: 'None' } as const
const MAX_DURATION = 3_600_000

function distance (a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number
      row[j] = Math.min(current + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }
  return row[b.length] as number
}

/** Rejects an unknown key, naming the closest known one (core has no shared helper for this yet). */
export function checkKeys (where: string, value: Record<string, unknown>, known: readonly string[], allowed: readonly string[] = []): void {
  for (const name of Object.keys(value)) {
    if (known.includes(name) || allowed.includes(name)) continue
    const closest = [...known].sort((a, b) => distance(name, a) - distance(name, b))[0] as string
    const hint = distance(name, closest) <= Math.max(2, Math.floor(closest.length / 3)) ? `did you mean \`${closest}\`? ` : ''
    throw invalid(PLUGIN, where === '' ? name : `${where}.${name}`, `no such option: ${hint}the options are ${known.join(', ')}`)
  }
}

function duration (option: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  const ms = parseDuration(PLUGIN, option, value, 'ms')
  if (ms < min || ms > MAX_DURATION) throw invalid(PLUGIN, option, `a duration from ${min}ms to 1h (a number of milliseconds or a string such as "50ms", "10s")`)
  return ms
}

function secrets (value: unknown, needed: boolean): string[] {
  if (value === undefined && !needed) return []
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && s.length >= 32)) {
    throw invalid(PLUGIN, 'secret', 'a string of at least 32 characters, or a non-empty array of them (the first signs): ' +
      'read-your-writes tokens are signed with it, and every instance needs the same one')
  }
  return [...list] as string[]
}

function urlLabel (url: URL): string {
  const host = url.hostname !== '' ? url.hostname : (url.searchParams.get('host') ?? 'localhost')
  return `${host}:${url.port !== '' ? url.port : '5432'}/${decodeURIComponent(url.pathname.slice(1))}`
}

function parseUrl (option: string, value: string): URL {
  let url: URL | undefined
  try {
    url = new URL(value)
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
  return value === undefined ? 1 : checkInteger(PLUGIN, `${option}.weight`, value, 1, 1000)
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
  checkKeys(option, value, KNOWN_HOST)
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
  checkKeys('cookie', c, KNOWN_COOKIE)
  const name = c.name ?? 'scaleout-db-token'
  if (typeof name !== 'string' || !COOKIE_NAME.test(name)) throw invalid(PLUGIN, 'cookie.name', 'a cookie name of 1 to 64 token characters')
  const path = c.path ?? '/'
  if (typeof path !== 'string' || !PATH.test(path)) throw invalid(PLUGIN, 'cookie.path', 'a path starting with "/" without ";" or control characters')
  const domain = c.domain
  if (domain !== undefined && (typeof domain !== 'string' || domain.length > 253 || !DOMAIN.test(domain))) {
    throw invalid(PLUGIN, 'cookie.domain', 'a host name such as "example.com"')
  }
  const secure = c.secure ?? 'auto'
  if (secure !== 'auto' && typeof secure !== 'boolean') throw invalid(PLUGIN, 'cookie.secure', 'true, false or "auto"')
  const sameSiteOption = c.sameSite ?? 'lax'
  if (typeof sameSiteOption !== 'string' || !Object.hasOwn(SAME_SITE, sameSiteOption)) throw invalid(PLUGIN, 'cookie.sameSite', '"lax", "strict" or "none"')
  const sameSite = SAME_SITE[sameSiteOption as keyof typeof SAME_SITE]
  if (sameSite === 'None' && secure !== true) throw invalid(PLUGIN, 'cookie.sameSite', '"lax" or "strict" unless cookie.secure is true')
  return { name, path, domain, secure, sameSite, maxAgeSeconds }
}

/** Checks and normalises every option; throws SCALEOUT_ERR_INVALID_OPTION naming the first bad one. */
export function normalize (options: PostgresOptions | undefined): Settings {
  const o: unknown = options ?? {}
  if (!isPlainObject(o)) throw invalid(PLUGIN, 'options', 'an object')
  checkKeys('', o, KNOWN, REGISTER_KEYS)
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
    replicaWait: duration('replicaWait', o.replicaWait, 50, 0),
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
