import type { FastifyRequest } from 'fastify'
import type pg from 'pg'
import type { Cluster } from './cluster.js'
import { readCookie } from '@scaleout/core'
import type { Host } from './pools.js'
import { read, write, type ReadContext, type WriteContext } from './queries.js'
import { required } from './routing.js'
import { verifyToken, type Token } from './token.js'
import { transaction } from './transaction.js'
import type { Queryable, RequestDb, RouteReason, Statement } from './types.js'
import { maxLsn } from './wal.js'

/** The request header API clients send the token back in, and the response header that carries it. */
export const TOKEN_HEADER = 'x-scaleout-db-token'
export const ROUTE_HEADER = 'x-scaleout-db-route'
const MAX_ROUTES = 16

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
  private readonly cluster: Cluster
  private readonly request: FastifyRequest

  constructor (cluster: Cluster, request: FastifyRequest) {
    this.cluster = cluster
    this.request = request
    this.position = cluster.settings.secrets.length > 0
    this.read = {
      query: async <R extends pg.QueryResultRow>(statement: Statement, values?: unknown[]) => await read<R>(cluster, statement, values, this)
    }
    this.write = {
      query: async <R extends pg.QueryResultRow>(statement: Statement, values?: unknown[]) => await write<R>(cluster, statement, values, this)
    }
    this.transaction = async <T>(fn: (tx: Queryable) => Promise<T>) => await transaction(cluster, fn, this)
  }

  /** The position this client's reads must see, from its token (read once, verified once). */
  need (): bigint | null {
    if (this.token === undefined) this.token = this.readToken()
    return this.token === null ? null : required(this.cluster, this.token)
  }

  private readToken (): Token | null {
    const { secrets, cookie } = this.cluster.settings
    if (secrets.length === 0) return null
    const headers = this.request.headers
    // Node joins a repeated header into one string, so it is a string or absent.
    let value = headers[TOKEN_HEADER] as string | undefined
    if (value === undefined && cookie !== null && typeof headers.cookie === 'string') value = readCookie(headers.cookie, cookie.name)
    return value === undefined ? null : verifyToken(value, secrets, Date.now())
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
