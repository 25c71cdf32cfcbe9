import type pg from 'pg'
import { DbOutcomeUnknownError, DbReadOnlyError, DbTimeoutError, DbUnavailableError } from './errors.js'
import type { Host } from './pools.js'

// Acquisition and the statement share one deadline. pg has no bound of its own that covers both
// (connectionTimeoutMillis only bounds connecting, not waiting for a busy pool, and query_timeout
// leaves the connection in use), so the race is ours: a client that arrives after we gave up is
// released, and a statement that overruns has its connection destroyed.

export type Failure = 'unavailable' | 'timeout' | 'conflict' | 'read-only'

/** Why a call failed, when the cause was the host rather than the statement; null for the caller's own errors. */
export function failureOf (err: unknown): Failure | null {
  if (err instanceof DbTimeoutError) return 'timeout'
  if (err instanceof DbUnavailableError || err instanceof DbOutcomeUnknownError) return 'unavailable'
  const { code, message } = Object(err) as { code?: unknown, message?: unknown }
  // SQLSTATE 40001 on a standby: a query cancelled by a conflict with WAL replay.
  if (code === '40001') return 'conflict'
  if (code === '25006') return 'read-only'
  // Socket errors; connection exception, operator intervention (shutdown, starting up), too many connections.
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || code.startsWith('08') || code.startsWith('57P') || code === '53300')) return 'unavailable'
  return typeof message === 'string' && CONNECTION_MESSAGE.test(message) ? 'unavailable' : null
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENOENT'])
const CONNECTION_MESSAGE = /Connection terminated|connection error|Connection ended|Client was closed|timeout exceeded when trying to connect|server closed the connection|server login has been failing|query_wait_timeout|no more connections allowed|pgbouncer cannot connect to server/i

/** Rejects after `ms`, unless cleared. */
function timer (ms: number): { promise: Promise<never>, clear: () => void } {
  let handle: NodeJS.Timeout | undefined
  const promise = new Promise<never>((_resolve, reject) => {
    handle = setTimeout(() => { reject(TIMEOUT) }, Math.max(0, ms))
  })
  return { promise, clear: () => { clearTimeout(handle) } }
}
const TIMEOUT = Symbol('timeout')

/** A client from `host`'s pool before `deadline`, or a coded error; nothing has been sent yet. */
export async function acquire (host: Host, deadline: number, budget: number): Promise<pg.PoolClient> {
  const connecting = host.pool.connect()
  const t = timer(deadline - Date.now())
  let client: pg.PoolClient
  try {
    client = await Promise.race([connecting, t.promise])
  } catch (err) {
    t.clear()
    if (err === TIMEOUT) {
      // Whoever arrives late goes straight back.
      connecting.then((late) => { late.release() }, () => {})
      throw new DbTimeoutError(host.role, budget)
    }
    throw new DbUnavailableError(host.role, { cause: err })
  }
  t.clear()
  return client
}

/** Returns a client to its pool, destroying it when it may be in an unknown state. */
export function release (client: pg.PoolClient, destroy: boolean): void {
  client.release(destroy ? true : undefined)
}

/** What a borrower decides about its client: set `destroy` when the connection must not be reused. */
export interface Lease { destroy: boolean }

/**
 * Runs `fn` with a client from `host` acquired before `deadline`, and gives the client back: destroyed
 * when `fn` failed on a broken connection or set `lease.destroy`, else returned to the pool.
 */
export async function withClient<T> (host: Host, deadline: number, budget: number, fn: (client: pg.PoolClient, lease: Lease) => Promise<T>): Promise<T> {
  const client = await acquire(host, deadline, budget)
  const lease: Lease = { destroy: false }
  let value: T
  try {
    value = await fn(client, lease)
  } catch (err) {
    release(client, lease.destroy || isBroken(err))
    throw err
  }
  release(client, lease.destroy)
  return value
}

export interface Sent {
  /** A write: a failure after sending leaves the outcome unknown. */
  readonly write: boolean
  readonly budget: number
}

/**
 * Runs one statement on a checked-out client before `deadline`. The caller releases the client;
 * on a failure that leaves the connection unusable, `broken` is set and the caller must destroy it.
 */
export async function run<R extends pg.QueryResultRow> (host: Host, client: pg.PoolClient, query: pg.QueryConfig | string, values: unknown[] | undefined, deadline: number, sent: Sent): Promise<pg.QueryResult<R>> {
  const running = client.query<R>(query as pg.QueryConfig, values)
  const t = timer(deadline - Date.now())
  let result: pg.QueryResult<R>
  try {
    result = await Promise.race([running, t.promise])
  } catch (err) {
    t.clear()
    if (err === TIMEOUT) {
      running.catch(() => {})
      throw broken(sent.write ? new DbOutcomeUnknownError({ cause: new DbTimeoutError(host.role, sent.budget) }) : new DbTimeoutError(host.role, sent.budget))
    }
    const failure = failureOf(err)
    // On a replica, 25006 means the caller wrote through read(): its own error, passed through.
    if (failure === 'read-only' && host.role === 'primary') throw new DbReadOnlyError({ cause: err })
    if (failure === 'unavailable') {
      throw broken(sent.write ? new DbOutcomeUnknownError({ cause: err }) : new DbUnavailableError(host.role, { cause: err }))
    }
    throw err
  }
  t.clear()
  return result
}

const kBroken = Symbol('scaleout.postgres.broken')

function broken<E extends Error> (err: E): E {
  Object.defineProperty(err, kBroken, { value: true })
  return err
}

/** Whether the connection that raised `err` must not go back to the pool. */
export function isBroken (err: unknown): boolean {
  return typeof err === 'object' && err !== null && kBroken in err
}
