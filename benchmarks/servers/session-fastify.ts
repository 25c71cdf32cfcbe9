import Fastify, { type FastifyRequest } from 'fastify'
import { Redis } from 'ioredis'
import type { BuildServer } from '../types.js'
import { sessionBytes, sessionRoutes, type BenchSession } from './session-common.js'

// Imported by a computed name: their type declarations give request.session another type than
// ours, and the benchmark is type-checked together with @scaleout/session.
async function load (name: string): Promise<any> {
  return (await import(name)).default
}

/**
 * @fastify/session with connect-redis 8 and an ioredis client (connect-redis 8 takes ioredis as
 * `client` directly). saveUninitialized: false, the setting that spares requests without a session.
 */
export const build: BuildServer = async ({ redisUrl, options }) => {
  const app = Fastify()
  const { RedisStore } = await import(String('connect-redis')) as { RedisStore: new (options: unknown) => unknown }
  const client = new Redis(redisUrl, { enableAutoPipelining: true })
  app.addHook('onClose', async () => { await client.quit() })
  await app.register(await load('@fastify/cookie'))
  await app.register(await load('@fastify/session'), {
    secret: 'benchmark-secret-0123456789-abcdefghij',
    store: new RedisStore({ client }),
    saveUninitialized: false,
    cookie: { secure: false }
  })
  sessionRoutes(app, (request: FastifyRequest) => (request as unknown as { session: BenchSession }).session, sessionBytes(options))
  return app
}
