import type pg from 'pg'
import type { Cluster } from './cluster.js'
import { DbClosedError, DbOutcomeUnknownError, DbRolledBackError, DbTimeoutError, DbTransactionDoneError } from './errors.js'
import { acquire, isBroken, release, run } from './execute.js'
import { refuseTransactionControl } from './open-transaction.js'
import { check, type WriteContext } from './queries.js'
import type { Queryable, Statement } from './types.js'
import { MAX_LSN, positionOf, recordEnd } from './wal.js'

// A transaction holds one primary connection from BEGIN to COMMIT. Each statement (and BEGIN,
// COMMIT, ROLLBACK) gets the full `timeout`; a statement that fails on the connection rolls the
// whole transaction back on the server, so inside it nothing is ever retried. The whole of it, the
// callback included, has the `transactionTimeout` deadline: a callback that never settles would
// otherwise hold its connection (and the transaction's locks) for ever, and fastify.close() with it.

/** COMMIT and the position after it in one simple-protocol round trip: what a bare COMMIT costs. */
const COMMIT_AND_POSITION = 'COMMIT; SELECT pg_current_wal_insert_lsn()::text AS lsn'

const EXPIRED: unique symbol = Symbol('scaleout.postgres.transactionExpired')
const CLOSED: unique symbol = Symbol('scaleout.postgres.transactionClosed')
type Ended = typeof EXPIRED | typeof CLOSED

export async function transaction<T> (cluster: Cluster, fn: (tx: Queryable) => Promise<T>, context: WriteContext | null): Promise<T> {
  if (typeof fn !== 'function') throw new TypeError('transaction(fn) needs a function')
  // An ended pool would answer as an unavailable host, and a pool the caller passed is still open.
  if (cluster.closed) throw new DbClosedError()
  const primary = cluster.primary
  const { timeout: budget, transactionTimeout } = cluster.settings
  const deadline = Date.now() + transactionTimeout
  const wait = Math.min(budget, transactionTimeout)
  const client = await acquire(primary, Date.now() + wait, wait)
  let destroy = false
  let done = false
  // Past the deadline, or when the app closes: whatever runs on the connection is cancelled (as an
  // overrunning statement is), the connection is destroyed, which rolls the transaction back, and
  // the handle refuses more.
  const abort = new AbortController()
  let expire!: (value: Ended) => void
  const expired = new Promise<Ended>((resolve) => { expire = resolve })
  const end = (why: Ended): void => {
    done = true
    destroy = true
    abort.abort(transactionTimeout)
    expire(why)
  }
  const timer = setTimeout(end, Math.max(0, deadline - Date.now()), EXPIRED)
  const closing = (): void => { end(CLOSED) }
  cluster.transactions.add(closing)
  const statement = async <R extends pg.QueryResultRow>(text: Statement, values?: unknown[], write = false): Promise<pg.QueryResult<R>> => {
    try {
      return await run<R>(primary, client, text, values, Date.now() + budget, { write, budget, signal: abort.signal })
    } catch (err) {
      if (isBroken(err)) destroy = true
      throw err
    }
  }
  try {
    await statement('BEGIN')
    context?.writing()
    const tx: Queryable = {
      query: async <R extends pg.QueryResultRow>(text: Statement, values?: unknown[]): Promise<pg.QueryResult<R>> => {
        if (done) throw new DbTransactionDoneError()
        check(cluster, text)
        refuseTransactionControl(text)
        return await statement<R>(text, values)
      }
    }
    let value: T
    try {
      // Statements are sent synchronously from here to COMMIT once fn settles: the timer cannot fire
      // in between, so COMMIT never starts on an aborted transaction.
      const outcome = await Promise.race([fn(tx), expired])
      if (outcome === EXPIRED) {
        throw new DbTimeoutError(primary.role, transactionTimeout, { cause: new Error(`the transaction did not end within transactionTimeout (${transactionTimeout}ms): rolled back`) })
      }
      if (outcome === CLOSED) throw new DbClosedError()
      value = outcome
    } catch (err) {
      done = true
      if (!destroy) {
        // A ROLLBACK that fails leaves the connection in an unknown state: destroy it, never reuse it.
        try {
          await statement('ROLLBACK')
        } catch {
          destroy = true
        }
      }
      throw err
    }
    done = true
    await commit(statement, context, cluster)
    return value
  } finally {
    done = true
    clearTimeout(timer)
    cluster.transactions.delete(closing)
    release(client, destroy)
  }
}

type Run = <R extends pg.QueryResultRow>(text: Statement, values?: unknown[], write?: boolean) => Promise<pg.QueryResult<R>>

async function commit (statement: Run, context: WriteContext | null, cluster: Cluster): Promise<void> {
  const position = context?.position === true
  let results: pg.QueryResult | pg.QueryResult[]
  try {
    results = await statement(position ? COMMIT_AND_POSITION : 'COMMIT', undefined, true)
  } catch (err) {
    if (err instanceof DbOutcomeUnknownError) context?.committed(MAX_LSN)
    throw err
  }
  const [committed, after] = Array.isArray(results) ? results : [results]
  // COMMIT of a transaction in which a statement failed (and the caller caught it) answers ROLLBACK.
  if (committed?.command === 'ROLLBACK') throw new DbRolledBackError()
  if (position) (context as WriteContext).committed(recordEnd(positionOf(after?.rows[0]?.lsn), cluster.wal))
}
