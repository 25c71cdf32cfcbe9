import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type pg from 'pg'
import { checks } from './checks.js'
import { Cluster } from './cluster.js'
import { serialize } from './cookie.js'
import { normalize } from './options.js'
import { read, write } from './queries.js'
import { checkDriver } from './read-only.js'
import { Sampler } from './sampler.js'
import { RequestScope, ROUTE_HEADER, TOKEN_HEADER } from './scope.js'
import { stats } from './stats.js'
import { signToken } from './token.js'
import { transaction } from './transaction.js'
import type { Db, PostgresOptions, Queryable, RequestDb, Statement } from './types.js'

const kScope = Symbol('scaleout.postgres.scope')

interface Carrier { [kScope]: RequestScope | null }

export async function postgresPlugin (fastify: FastifyInstance, options: PostgresOptions): Promise<void> {
  const settings = normalize(options)
  checkDriver()
  const cluster = new Cluster(settings, fastify.log)
  const sampler = new Sampler(cluster)
  fastify.addHook('onClose', async () => {
    await sampler.stop()
    await cluster.close()
  })

  const db: Db = {
    read: { query: async <R extends pg.QueryResultRow>(statement: Statement, values?: unknown[]) => await read<R>(cluster, statement, values, null) },
    write: { query: async <R extends pg.QueryResultRow>(statement: Statement, values?: unknown[]) => await write<R>(cluster, statement, values, null) },
    transaction: async <T>(fn: (tx: Queryable) => Promise<T>) => await transaction(cluster, fn, null),
    stats: () => stats(cluster),
    checks: checks(cluster)
  }
  fastify.decorate('db', db)
  fastify.decorateRequest(kScope, null)
  fastify.decorateRequest('db', {
    getter (this: FastifyRequest): RequestDb {
      const carrier = this as unknown as Carrier
      carrier[kScope] ??= new RequestScope(cluster, this)
      return carrier[kScope]
    }
  })

  const tokens = settings.secrets.length > 0
  if (tokens || settings.routeHeader) {
    fastify.addHook('onSend', function dbHeaders (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void) {
      const scope = (request as unknown as Carrier)[kScope]
      if (scope !== null) {
        if (tokens && scope.committedAt !== null) {
          const token = signToken(scope.committedAt, Date.now(), settings.secrets)
          reply.header(TOKEN_HEADER, token)
          if (settings.cookie !== null) reply.header('set-cookie', serialize(settings.cookie, request, token))
        }
        if (settings.routeHeader && scope.routes.length > 0) reply.header(ROUTE_HEADER, scope.routes.join(', '))
      }
      done(null, payload)
    })
  }

  // Replicas join rotation once sampled: the first round runs before the app is ready.
  await sampler.start()
}
