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
  // pg's own client-side errors carry no code, only a message. A server's error always carries its
  // SQLSTATE, and its message may echo the statement's input ('invalid input syntax for type
  // bigint: "connection error"'): read as a connection failure, that let any client take replicas
  // out of rotation.
  if (code !== undefined) return null
  return typeof message === 'string' && CONNECTION_MESSAGE.test(message) ? 'unavailable' : null
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENOENT'])
const CONNECTION_MESSAGE = /Connection terminated|connection error|Connection ended|Client was closed|timeout exceeded when trying to connect|server closed the connection|server login has been failing|query_wait_timeout|no more connections allowed|pgbouncer cannot connect to server/i

/** A client from `host`'s pool before `deadline`, or a coded error; nothing has been sent yet. */
export async function acquire (host: Host, deadline: number, budget: number): Promise<pg.PoolClient> {
  // pg's callback forms and one promise of our own: this runs twice per call, and a race of promises
  // costs several allocations more per request than the statement's own work on the client side.
  return await new Promise<pg.PoolClient>((resolve, reject) => {
    let settled = false
    const timer = setTimeout(() => {
      settled = true
      reject(new DbTimeoutError(host.role, budget))
    }, Math.max(0, deadline - Date.now()))
    host.pool.connect((err, client) => {
      if (settled) {
        // Whoever arrives late goes straight back.
        if (client !== undefined) client.release()
        return
      }
      settled = true
      clearTimeout(timer)
      if (err !== undefined && err !== null) reject(new DbUnavailableError(host.role, { cause: err }))
      else resolve(client as pg.PoolClient)
    })
  })
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

// pg takes a callback after a query config too (its types only say so for text): no promise of its own.
interface CallbackQuery {
  query: <R extends pg.QueryResultRow>(query: pg.QueryConfig | string, values: unknown[] | undefined, callback: (err: Error | null, result: pg.QueryResult<R>) => void) => void
}

/**
 * Runs one statement on a checked-out client before `deadline`. The caller releases the client;
 * on a failure that leaves the connection unusable, `broken` is set and the caller must destroy it.
 */
export async function run<R extends pg.QueryResultRow> (host: Host, client: pg.PoolClient, query: pg.QueryConfig | string, values: unknown[] | undefined, deadline: number, sent: Sent): Promise<pg.QueryResult<R>> {
  const callable = client as unknown as CallbackQuery
  return await new Promise<pg.QueryResult<R>>((resolve, reject) => {
    let settled = false
    const timer = setTimeout(() => {
      settled = true
      reject(broken(sent.write ? new DbOutcomeUnknownError({ cause: new DbTimeoutError(host.role, sent.budget) }) : new DbTimeoutError(host.role, sent.budget)))
    }, Math.max(0, deadline - Date.now()))
    callable.query<R>(query, values, (err, result) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (err === null || err === undefined) resolve(result)
      else reject(statementError(host, err, sent))
    })
  })
}

/** What a failed statement becomes: a coded error when the host is at fault, else the server's own error. */
function statementError (host: Host, err: Error, sent: Sent): Error {
  const failure = failureOf(err)
  // On a replica, 25006 means the caller wrote through read(): its own error, passed through.
  if (failure === 'read-only' && host.role === 'primary') return new DbReadOnlyError({ cause: err })
  if (failure === 'unavailable') {
    return broken(sent.write ? new DbOutcomeUnknownError({ cause: err }) : new DbUnavailableError(host.role, { cause: err }))
  }
  return err
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
