import type pg from 'pg'
import type { Cluster } from './cluster.js'
import { DbClosedError, DbOutcomeUnknownError, DbReadOnlyError } from './errors.js'
import { acquire, answerOf, failureOf, isBroken, release, run, waitedForBusyPool, withClient } from './execute.js'
import { opensTransaction, refuseOpenTransaction } from './open-transaction.js'
import { guard } from './pgbouncer.js'
import type { Host } from './pools.js'
import { refuseSessionSequence } from './session-sequence.js'
import { fallback, route } from './routing.js'
import type { RouteReason, Statement } from './types.js'
import { MAX_LSN } from './wal.js'

/** What a read needs to know about its request: the position it must see, and whether it wrote. */
export interface ReadContext {
  need: () => bigint | null
  readonly wrote: boolean
  routed: (host: Host, reason: RouteReason) => void
}

export function check (cluster: Cluster, statement: Statement): void {
  if (cluster.closed) throw new DbClosedError()
  const bouncer = cluster.settings.pgbouncer
  if (bouncer !== null) guard(statement, bouncer[0] > 1 || (bouncer[0] === 1 && bouncer[1] >= 21))
}

/**
 * One statement on one host before `deadline`; failures that say the host is at fault count against
 * it. A statement that overran counts only if the host then does not answer the cancel: a slow
 * statement is the caller's (a client could otherwise take replicas out of rotation with slow
 * queries), a hung host is the host's. For the same reason a wait for a pool whose connections are
 * all in use does not count; a wait for a new connection does.
 */
export async function attempt<R extends pg.QueryResultRow> (cluster: Cluster, host: Host, statement: Statement, values: unknown[] | undefined, deadline: number, read = false): Promise<pg.QueryResult<R>> {
  const budget = cluster.settings.timeout
  // withClient spelled out: one closure and one async frame less on every read.
  let client: pg.PoolClient | undefined
  try {
    client = await acquire(host, deadline, budget)
    const result = await run<R>(host, client, statement, values, deadline, { write: false, budget, read })
    release(client, false)
    host.failures = 0
    return result
  } catch (err) {
    // A text whose BEGIN was followed by a statement that failed leaves its connection in the transaction.
    if (client !== undefined) release(client, isBroken(err) || opensTransaction(statement))
    const failure = failureOf(err)
    const answer = answerOf(err)
    if (failure === 'timeout' && answer !== null) answer.then((answered) => { if (!answered) cluster.failed(host) })
    else if (failure === 'unavailable' || (failure === 'timeout' && !waitedForBusyPool(err))) cluster.failed(host)
    throw err
  }
}

/**
 * Whether `err`, an overrun on a replica, came from a statement the replica cancelled: slow, not
 * hung. Waited for a quarter of what is left of the read's budget at most: a live server acts on a
 * cancel within milliseconds, and a retry elsewhere needs the rest.
 */
async function cancelledInTime (err: unknown, deadline: number): Promise<boolean> {
  const answer = answerOf(err)
  if (answer === null) return false
  let timer: NodeJS.Timeout | undefined
  const waited = new Promise<boolean>((resolve) => { timer = setTimeout(resolve, Math.max(0, (deadline - Date.now()) / 4), false) })
  try {
    return await Promise.race([answer, waited])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * A read. On a replica the first try gets half the remaining budget, so that when the replica is
 * dead or hung (or cancels the query in a replay conflict, 40001) the read is tried once more,
 * on another replica that needs no wait or on the primary, within the same deadline.
 */
export async function read<R extends pg.QueryResultRow> (cluster: Cluster, statement: Statement, values: unknown[] | undefined, context: ReadContext | null): Promise<pg.QueryResult<R>> {
  check(cluster, statement)
  refuseOpenTransaction(statement)
  refuseSessionSequence(statement)
  const deadline = Date.now() + cluster.settings.timeout
  const need = context?.need() ?? null
  const routing = route(cluster, need, context?.wrote ?? false, deadline)
  // Only a read that waits for a replica has anything to await here.
  const { host, reason } = routing instanceof Promise ? await routing : routing
  if (host.role === 'primary') {
    const result = await attempt<R>(cluster, host, statement, values, deadline, true)
    routed(cluster, context, host, reason)
    return result
  }
  try {
    const result = await attempt<R>(cluster, host, statement, values, Date.now() + (deadline - Date.now()) / 2, true)
    routed(cluster, context, host, reason)
    return result
  } catch (err) {
    const failure = failureOf(err)
    if (failure === null || failure === 'read-only') throw err
    // A statement too slow for its budget on a live replica would be as slow on the primary, with
    // half the budget left: not sent twice.
    if (failure === 'timeout' && await cancelledInTime(err, deadline)) throw err
    const other = fallback(cluster, host, need)
    cluster.log.debug({ host: host.name, failure, retry: other.name }, 'postgres: read retried elsewhere')
    const result = await attempt<R>(cluster, other, statement, values, deadline, true)
    routed(cluster, context, other, 'fallback')
    return result
  }
}

function routed (cluster: Cluster, context: ReadContext | null, host: Host, reason: RouteReason): void {
  cluster.routes[reason]++
  host.reads++
  context?.routed(host, reason)
}

/** What a write tells its request: it is about to send (reads then stay on the primary), and where it committed. */
export interface WriteContext {
  /** Whether the response will carry a token, so the commit position is worth a round trip. */
  readonly position: boolean
  writing: () => void
  committed: (lsn: bigint) => void
}

/**
 * A statement on the primary. In a request, the primary's WAL insert position is read after it
 * commits (see CommitPositions: shared by the writes that commit meanwhile, on any connection): it
 * lies at or past the end of the commit record, so a replica that replayed it sees the write. When
 * that read fails, or the write's outcome is unknown, the token gets the largest position: the
 * client's reads go to the primary until the sampler clamps it (see required() in routing.ts).
 */
export async function write<R extends pg.QueryResultRow> (cluster: Cluster, statement: Statement, values: unknown[] | undefined, context: WriteContext | null): Promise<pg.QueryResult<R>> {
  check(cluster, statement)
  refuseOpenTransaction(statement)
  refuseSessionSequence(statement)
  const primary = cluster.primary
  const budget = cluster.settings.timeout
  const deadline = Date.now() + budget
  let result: pg.QueryResult<R>
  let sent = false
  try {
    result = await withClient(primary, deadline, budget, async (client, lease) => {
      context?.writing()
      sent = true
      try {
        return await run<R>(primary, client, statement, values, deadline, { write: true, budget })
      } catch (err) {
        // A text whose BEGIN was followed by a statement that failed leaves its connection in the transaction.
        if (opensTransaction(statement)) lease.destroy = true
        throw err
      }
    })
  } catch (err) {
    if (err instanceof DbOutcomeUnknownError) context?.committed(MAX_LSN)
    // A statement's own error does not mean that nothing committed: an explicit COMMIT in the text
    // before the statement that failed (`BEGIN; ...; COMMIT; ...`), a procedure that commits and
    // then raises. Without a token the client's next read could go to a replica without that write.
    // The position is read once the connection is back, as after a success.
    else if (sent && context?.position === true && !(err instanceof DbReadOnlyError)) context.committed(await cluster.positions.after(deadline))
    throw err
  }
  if (context?.position === true) context.committed(await cluster.positions.after(deadline))
  return result
}
