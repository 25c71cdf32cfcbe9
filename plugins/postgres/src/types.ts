import type pg from 'pg'

/** A host: a postgres:// URL, a pg config object (optionally weighted), a pg.Pool, or `{ pool, weight }`. */
export type HostOption =
  | string
  | pg.Pool
  | { pool: pg.Pool, weight?: number }
  | (Pick<pg.PoolConfig, 'connectionString' | 'host' | 'port' | 'database' | 'user' | 'password' | 'ssl' | 'application_name' |
    'max' | 'idleTimeoutMillis' | 'keepAlive' | 'keepAliveInitialDelayMillis' | 'statement_timeout' | 'lock_timeout' |
    'idle_in_transaction_session_timeout' | 'options'> & { weight?: number })

/** A duration: milliseconds, or a string such as `'50ms'`, `'10s'`. */
export type Duration = number | string

export interface PostgresCookieOptions {
  /** Default `'scaleout-db-token'`. */
  name?: string
  /** Default `'/'`. */
  path?: string
  domain?: string
  /** Default `'auto'`: Secure when request.protocol is https. */
  secure?: boolean | 'auto'
  /** Default `'lax'`. */
  sameSite?: 'lax' | 'strict' | 'none'
  /** Default `true`: scripts cannot read the token. */
  httpOnly?: boolean
  /** CHIPS partitioned cookie; default `false`. */
  partitioned?: boolean
}

export interface PostgresOptions {
  /** Where writes go. Default: DATABASE_URL. */
  primary?: HostOption
  /** Where reads go. Default: DATABASE_REPLICA_URL (a comma-separated list). None: everything on the primary. */
  replicas?: HostOption | HostOption[]
  /** Signs read-your-writes tokens (at least 32 characters; a list rotates: the first signs). Required with replicas. */
  secret?: string | string[]
  /** Deadline of one call: acquisition, PgBouncer queueing and the statement together. Default `'2s'`. */
  timeout?: Duration
  /** Deadline of a whole transaction, its callback included: past it, it is rolled back. Default `'30s'`. */
  transactionTimeout?: Duration
  /** How long a read with a token may wait for a replica to replay it before it goes to the primary. Default `'50ms'`. */
  replicaWait?: Duration
  /** A replica lagging more than this leaves rotation. Default `'10s'`. */
  maxLag?: Duration
  /** A replica more than this many bytes of WAL behind leaves rotation. Default: no byte limit. */
  maxLagBytes?: number
  /** Time between two samples of every host (with ±20% jitter). Default `'1s'`. */
  sampleInterval?: Duration
  /** Consecutive failed calls that take a replica out of rotation. Default 2. */
  quarantineAfter?: number
  /** Consecutive good samples that bring it back. Default 2. */
  recoverAfter?: number
  /** Behind PgBouncer in transaction mode: `true` or its version (`'1.18'`). Default false. */
  pgbouncer?: boolean | string
  /** The token cookie for browsers, or `false` for the header only. */
  cookie?: PostgresCookieOptions | false
  /** Add `x-scaleout-db-route` to responses, naming where each read went and why. Default false. */
  routeHeader?: boolean
  /** Connections per pool the plugin creates (a host object's `max` wins). Default 10. */
  poolSize?: number
}

/** A statement: text with `$1` placeholders, or a pg query config. */
export type Statement = string | pg.QueryConfig

export interface Queryable {
  /** Runs one statement and resolves with pg's result. */
  query: <R extends pg.QueryResultRow = pg.QueryResultRow>(statement: Statement, values?: unknown[]) => Promise<pg.QueryResult<R>>
}

/** Runs `fn` in a transaction on the primary: committed when it resolves, rolled back (and rethrown) when it throws. */
export type Transaction = <T>(fn: (tx: Queryable) => Promise<T>) => Promise<T>

/** Why a read went where it went. */
export type RouteReason =
  | 'replica' | 'caughtUpWait' | 'tokenAhead' | 'quarantined' | 'fallback' | 'afterWrite' | 'noReplica'

export interface HostStats {
  name: string
  role: 'primary' | 'replica'
  /** `up`, or why a replica is out of rotation; `unreachable` for a primary the last sample could not reach. */
  state: 'up' | 'lag' | 'down' | 'not-standby' | 'diverged' | 'unreachable'
  weight: number
  /** Replayed (replica) or inserted (primary) WAL position as last seen, or null. */
  lsn: string | null
  lagMs: number
  lagBytes: number
  /** Consecutive failed calls. */
  failures: number
  /** Reads this host answered (through db.read and request.db.read). */
  reads: number
  pool: { total: number, idle: number, waiting: number }
}

export interface DbStats {
  primary: HostStats
  replicas: HostStats[]
  /** Reads by where they went and why. */
  routes: Record<RouteReason, number>
}

/** Check functions for @scaleout/health's addCheck (or anything that treats a throw as a failure). */
export interface DbChecks {
  /** Fails (throws) when the primary does not answer `SELECT 1` within the timeout. */
  primary: (signal?: AbortSignal) => Promise<{ status: 'pass', observedValue: number, observedUnit: 'ms' }>
  /** Warns when no replica is in rotation (reads run on the primary); passes with the count in rotation. */
  replicas: (signal?: AbortSignal) => Promise<{ status: 'pass' | 'warn', observedValue: number, observedUnit: 'replicas', output?: string }>
}

export interface Db {
  /** Statements on the primary. */
  write: Queryable
  /** Statements on a replica in rotation (the primary when none is), with no consistency token. */
  read: Queryable
  transaction: Transaction
  /** Per-host state, lag and pool usage, and reads counted by route. */
  stats: () => DbStats
  checks: DbChecks
}

export interface RequestDb {
  /** Writes on the primary; the response then carries a consistency token. */
  write: Queryable
  /** Reads on a replica that has replayed this client's last write, else the primary. */
  read: Queryable
  transaction: Transaction
}

declare module 'fastify' {
  interface FastifyInstance {
    /** PostgreSQL: writes on the primary, reads on replicas in rotation. */
    db: Db
  }
  interface FastifyRequest {
    /** Request-scoped PostgreSQL: reads that see this client's own writes, on any instance. */
    db: RequestDb
  }
}
