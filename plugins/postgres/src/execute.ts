import { connect } from 'node:net'
import type pg from 'pg'
import { DbOutcomeUnknownError, DbReadOnlyError, DbTimeoutError, DbUnavailableError, DbWriteInReadError } from './errors.js'
import type { Host } from './pools.js'
import { ReadOnlyQuery } from './read-only.js'

// Acquisition and the statement share one deadline. pg has no bound of its own that covers both
// (connectionTimeoutMillis only bounds connecting, not waiting for a busy pool, and query_timeout
// leaves the connection in use), so the race is ours: a client that arrives after we gave up is
// released, and a statement that overruns is cancelled on the server and its connection destroyed.

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

const kBusyPool = Symbol('scaleout.postgres.busyPool')

/** Whether `err` is a wait for a connection of a pool that had none free: not the host's failure. */
export function waitedForBusyPool (err: unknown): boolean {
  return typeof err === 'object' && err !== null && kBusyPool in err
}

/** A client from `host`'s pool before `deadline`, or a coded error; nothing has been sent yet. */
export async function acquire (host: Host, deadline: number, budget: number): Promise<pg.PoolClient> {
  // pg's callback forms and one promise of our own: this runs twice per call, and a race of promises
  // costs several allocations more per request than the statement's own work on the client side.
  return await new Promise<pg.PoolClient>((resolve, reject) => {
    let settled = false
    let queued = false
    const timer = setTimeout(() => {
      settled = true
      const timeout = new DbTimeoutError(host.role, budget)
      if (queued) Object.defineProperty(timeout, kBusyPool, { value: true })
      reject(timeout)
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
    // A pool with no connection free queues the call (and counts it in waitingCount) until one is
    // given back: a wait there that times out says its connections are all in use (a client's slow
    // statements, say), not that the host is failing. With room, the pool opens a connection for
    // this call, and a wait that times out is the host not answering. A pool that keeps no such
    // count (another driver's) has every timeout count.
    queued = host.pool.waitingCount > 0
  })
}

/** Returns a client to its pool, destroying it when it may be in an unknown state. */
export function release (client: pg.PoolClient, destroy: boolean): void {
  const cancelling = destroy ? cancels.get(client) : undefined
  // A statement being cancelled keeps its connection (and its pool slot) until the server has acted
  // on the cancel, or for CANCEL_MS at most: PgBouncer finds the server connection to cancel through
  // this client's link, which closing it first would drop.
  if (cancelling !== undefined && !cancelling.finished) cancelling.destroy = () => { client.release(true) }
  else client.release(destroy ? true : undefined)
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
  /**
   * Ends the statement before its deadline (a transaction's own deadline) as if that had passed;
   * the signal's reason is the budget the error names.
   */
  readonly signal?: AbortSignal
  /**
   * A statement sent through read(): on the primary it runs in a read-only transaction, as on a
   * replica, and a read-only error (25006) wherever it ran says that it tried to write.
   */
  readonly read?: boolean
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
  const signal = sent.signal
  return await new Promise<pg.QueryResult<R>>((resolve, reject) => {
    let settled = false
    // Set by an overrun (the only way `settled` is set before this statement answers).
    let answered: (() => void) | null = null
    let alive: ((answered: boolean) => void) | null = null
    const overrun = (budget: number): void => {
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      // Destroying the connection alone leaves the backend running the statement (holding its locks)
      // until it next writes to the socket: ask the server to cancel it.
      answered = cancel(client)
      const timeout = new DbTimeoutError(host.role, budget)
      const answer = new Promise<boolean>((resolve) => {
        alive = resolve
        setTimeout(resolve, CANCEL_MS, false).unref()
      })
      reject(withAnswer(broken(sent.write ? new DbOutcomeUnknownError({ cause: timeout }) : timeout), answer))
    }
    const onAbort = (): void => { overrun((signal as AbortSignal).reason as number) }
    const timer = setTimeout(overrun, Math.max(0, deadline - Date.now()), sent.budget)
    signal?.addEventListener('abort', onAbort)
    const done = (err: Error | null, result: pg.QueryResult<R>): void => {
      if (settled) {
        // The cancelled statement answered (with 57014, or its result): the host is alive, unless
        // what answered was the connection we destroyed once the cancel had its time.
        (alive as unknown as (answered: boolean) => void)(cancels.get(client)?.finished !== true);
        (answered as () => void)()
        return
      }
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      if (err === null || err === undefined) resolve(result)
      else reject(statementError(host, err, sent))
    }
    if (sent.read === true && host.role === 'primary') (client as unknown as { query: (query: ReadOnlyQuery) => void }).query(new ReadOnlyQuery(query, values, done as (err: Error | null, result: unknown) => void))
    else callable.query<R>(query, values, done)
  })
}

/** How long a cancelled statement's connection is kept for the server to act on the cancel request. */
const CANCEL_MS = 1000
/** How long the cancel request's own connection may stay open, idle, waiting for the server to close it. */
const CANCEL_SOCKET_MS = 30_000
/** Cancels under way, by client: `destroy` destroys the client once the cancel is over. */
const cancels = new WeakMap<pg.PoolClient, { finished: boolean, destroy: (() => void) | null }>()

/**
 * Sends PostgreSQL's CancelRequest for what `client` is running, on a connection of its own (what
 * libpq's PQcancel does; PgBouncer forwards it to the server connection linked to this client). The
 * returned function is called when the statement answers. Until then, for CANCEL_MS at most,
 * `release` holds the client back from being destroyed. Never throws, never rejects: a cancel that
 * cannot be sent leaves the statement to the server, as destroying the connection alone did.
 *
 * pg's own Client#cancel is neither typed nor documented, reads the deprecated `activeQuery`, has no
 * bound and no `error` listener (a refused connection would crash the process): the request is 16
 * bytes, sent here with node:net to the host and port pg connected to (a socket directory as pg
 * spells it). Like libpq's before PostgreSQL 17, it goes without TLS: it carries only the key, and
 * where a TLS-only hop refuses it, nothing is cancelled and the connection is destroyed within
 * CANCEL_MS.
 */
function cancel (client: pg.PoolClient): () => void {
  const cancelling: { finished: boolean, destroy: (() => void) | null } = { finished: false, destroy: null }
  cancels.set(client, cancelling)
  const finish = (): void => {
    if (cancelling.finished) return
    cancelling.finished = true
    cancelling.destroy?.()
  }
  const { processID, secretKey } = client as unknown as { processID: unknown, secretKey: unknown }
  if (typeof processID !== 'number' || typeof secretKey !== 'number') {
    // A client that exposes no key (a pool of another driver's clients): nothing to send.
    finish()
    return finish
  }
  const packet = Buffer.alloc(16)
  packet.writeInt32BE(16, 0)
  packet.writeInt32BE(80877102, 4)
  packet.writeUInt32BE(processID >>> 0, 8)
  packet.writeUInt32BE(secretKey >>> 0, 12)
  const timer = setTimeout(finish, CANCEL_MS)
  const answered = (): void => {
    clearTimeout(timer)
    finish()
  }
  const socket = client.host.startsWith('/') ? connect(`${client.host}/.s.PGSQL.${client.port}`) : connect(client.port, client.host)
  // The server closes this connection once it has passed the request on; we never close it first.
  // PgBouncer drops a cancel whose connection ends before its own one to the server is up, and
  // PgBouncer 1.18 exits (FATAL "bad client state") when it ends while the cancel is in flight. So it
  // outlives the statement's answer, bounded by an idle timeout, and never keeps the process alive.
  socket.unref()
  socket.setTimeout(CANCEL_SOCKET_MS, socket.destroy.bind(socket))
  // Failing to connect: nothing will stop the statement, let the client go now.
  socket.on('error', answered)
  socket.on('connect', () => { socket.write(packet) })
  return answered
}

/** What a failed statement becomes: a coded error when the host is at fault, else the server's own error. */
function statementError (host: Host, err: Error, sent: Sent): Error {
  const failure = failureOf(err)
  // Through read(), 25006 means the statement tried to write: on a replica, or on the primary where
  // it ran read-only. Nothing was written.
  if (failure === 'read-only' && sent.read === true) return new DbWriteInReadError({ cause: err })
  if (failure === 'read-only' && host.role === 'primary') return new DbReadOnlyError({ cause: err })
  if (failure === 'unavailable') {
    return broken(sent.write ? new DbOutcomeUnknownError({ cause: err }) : new DbUnavailableError(host.role, { cause: err }))
  }
  return err
}

const kAnswer = Symbol('scaleout.postgres.answer')

function withAnswer<E extends Error> (err: E, answer: Promise<boolean>): E {
  Object.defineProperty(err, kAnswer, { value: answer })
  return err
}

/**
 * For a statement that overran: whether its host answered the cancel (true, within CANCEL_MS: the
 * statement was slow, the host is fine) or not (false: the host is hung). Null for other errors,
 * a wait for a connection that timed out among them.
 */
export function answerOf (err: unknown): Promise<boolean> | null {
  return typeof err === 'object' && err !== null && kAnswer in err ? (err as { [kAnswer]: Promise<boolean> })[kAnswer] : null
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
