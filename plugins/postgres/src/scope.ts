import type { FastifyRequest } from 'fastify'
import type pg from 'pg'
import type { Cluster } from './cluster.js'
import { readCookies } from '@scaleout/core'
import type { Host } from './pools.js'
import { read, write, type ReadContext, type WriteContext } from './queries.js'
import { required } from './routing.js'
import type { Token } from './token.js'
import { transaction } from './transaction.js'
import type { Queryable, RequestDb, RouteReason, Statement } from './types.js'
import { maxLsn } from './wal.js'

/** The request header API clients send the token back in, and the response header that carries it. */
export const TOKEN_HEADER = 'x-scaleout-db-token'
export const ROUTE_HEADER = 'x-scaleout-db-route'
const MAX_ROUTES = 16
/** Tokens read from one request's header, and from its cookies; more are ignored. */
const MAX_TOKENS = 4

function newer (a: Token | null, b: Token | null): Token | null {
  return a === null || (b !== null && b.lsn > a.lsn) ? b : a
}

/** request.db: made on first use, so a request that never touches the database costs nothing. */
export class RequestScope implements RequestDb, ReadContext, WriteContext {
  readonly read: Queryable
  readonly write: Queryable
  readonly transaction: RequestDb['transaction']
  wrote = false
  readonly position: boolean
  /** Where this request's last write committed: the token the response carries. */
  committedAt: bigint | null = null
  readonly routes: string[] = []
  private token: Token | null | undefined
  readonly cluster: Cluster
  private readonly request: FastifyRequest

  constructor (cluster: Cluster, request: FastifyRequest) {
    this.cluster = cluster
    this.request = request
    this.position = cluster.settings.secrets.length > 0
    // Small objects with prototype methods rather than closures: one scope per request that uses the database.
    this.read = new Scoped(this, read)
    this.write = new Scoped(this, write)
    this.transaction = async <T>(fn: (tx: Queryable) => Promise<T>) => await transaction(cluster, fn, this)
  }

  /** The position this client's reads must see, from its token (read once, verified once). */
  need (): bigint | null {
    if (this.token === undefined) this.token = this.readToken()
    return this.token === null ? null : required(this.cluster, this.token)
  }

  /**
   * The most recent valid token the request carries, in the header (Node joins a repeated one with
   * commas) or its cookies. One that is empty, garbage or older never hides a newer one: a client's
   * library or a proxy may send a stale header beside the cookie its last write set.
   */
  private readToken (): Token | null {
    const { secrets, cookie } = this.cluster.settings
    if (secrets.length === 0) return null
    const headers = this.request.headers
    const now = Date.now()
    let best: Token | null = null
    const header = headers[TOKEN_HEADER] as string | undefined
    if (header !== undefined) {
      // A bound on the HMACs a request can make us compute.
      for (const value of header.split(',', MAX_TOKENS)) best = newer(best, this.cluster.tokens.verify(value.trim(), now))
    }
    if (cookie !== null && typeof headers.cookie === 'string') {
      // Two of the name (another Path or Domain, set before a change of them): the newest counts.
      for (const value of readCookies(headers.cookie, cookie.name, MAX_TOKENS)) best = newer(best, this.cluster.tokens.verify(value, now))
    }
    return best
  }

  writing (): void {
    this.wrote = true
  }

  committed (lsn: bigint): void {
    this.committedAt = maxLsn(this.committedAt, lsn)
  }

  routed (host: Host, reason: RouteReason): void {
    if (this.routes.length < MAX_ROUTES) this.routes.push(`${host.role};reason=${reason}`)
  }
}

/** How a scoped query runs: `read` or `write`, with the request's scope as its context. */
type Run = <R extends pg.QueryResultRow>(cluster: Cluster, statement: Statement, values: unknown[] | undefined, scope: RequestScope) => Promise<pg.QueryResult<R>>

/** `request.db.read` or `request.db.write`: queries that carry the request's scope. */
class Scoped implements Queryable {
  private readonly scope: RequestScope
  private readonly run: Run

  constructor (scope: RequestScope, run: Run) {
    this.scope = scope
    this.run = run
  }

  async query<R extends pg.QueryResultRow> (statement: Statement, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return await this.run<R>(this.scope.cluster, statement, values, this.scope)
  }
}
