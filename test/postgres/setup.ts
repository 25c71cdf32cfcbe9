import type { FastifyInstance, FastifyServerOptions, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import postgres, { type PostgresOptions } from '@scaleout/postgres'
import { appFor } from '../helpers/fixtures.js'
import { PostgresCluster } from '../helpers/postgres.js'

export const SECRET = 'postgres-test-secret-0123456789-abcdef'
export const OLD_SECRET = 'older-postgres-secret-0123456789-abcdef'

/**
 * A Fastify app with the plugin and the routes most tests drive: POST /notes writes through
 * request.db.write, GET /notes/:id reads through request.db.read. Closed when `t` ends.
 */
export async function build (t: Test, options: PostgresOptions, fastifyOptions: FastifyServerOptions = {}, extra?: (app: FastifyInstance) => void): Promise<FastifyInstance> {
  const app = appFor(t, fastifyOptions)
  await app.register(postgres, options)
  app.post('/notes', async (request) => {
    const { id, body } = request.body as { id: number, body: string }
    await request.db.write.query('INSERT INTO notes (id, body) VALUES ($1, $2)', [id, body])
    return { ok: true }
  })
  app.get('/notes/:id', async (request) => {
    const { id } = request.params as { id: string }
    const { rows } = await request.db.read.query<{ body: string }>('SELECT body FROM notes WHERE id = $1', [Number(id)])
    return { body: rows[0]?.body ?? null }
  })
  extra?.(app)
  await app.ready()
  return app
}

/** The `name=value` part of the response's token Set-Cookie, or undefined. */
export function tokenCookie (res: LightMyRequestResponse): string | undefined {
  const header = res.headers['set-cookie']
  const first = Array.isArray(header) ? header[0] : header
  return first?.split(';')[0]
}

export const NOTES = 'CREATE TABLE IF NOT EXISTS notes (id bigint PRIMARY KEY, body text NOT NULL)'

/** A primary and one replica with the notes table, holding note 1 ('one'), and the replica caught up. */
export async function startNotesCluster (): Promise<PostgresCluster> {
  const cluster = await PostgresCluster.start(1)
  await cluster.primary.query(NOTES)
  await cluster.primary.query("INSERT INTO notes (id, body) VALUES (1, 'one')")
  await cluster.replica.waitCaughtUp(cluster.primary)
  return cluster
}
