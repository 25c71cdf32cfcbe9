// Notes backed by PostgreSQL through @scaleout/postgres: writes on the primary, reads on a replica
// unless this client's own last write has not reached it yet. The page shows where every read went
// (the plugin's x-scaleout-db-route header) and which instance answered.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import postgres from '@scaleout/postgres'

export interface NotesOptions {
  /** Signs the read-your-writes tokens; every instance needs the same. */
  secret: string[]
  env?: NodeJS.ProcessEnv
}

const page = readFileSync(join(import.meta.dirname, 'public', 'notes.html'), 'utf8')
const MAX_TEXT = 500
// Instances start together: one creates the table while the others wait on the lock.
const SCHEMA_LOCK = 7_300_001
const SCHEMA = 'CREATE TABLE IF NOT EXISTS example_notes (id bigserial PRIMARY KEY, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())'

/** An environment variable, or the trimmed content of the file `NAME_FILE` names (Docker secrets). */
export function fromEnvOrFile (env: NodeJS.ProcessEnv, name: string): string | undefined {
  const file = env[`${name}_FILE`]
  if (file !== undefined && file !== '') return readFileSync(file, 'utf8').trim()
  const value = env[name]
  return value === undefined || value === '' ? undefined : value
}

interface Note { id: string, body: string, created_at: Date }

export async function notes (app: FastifyInstance, options: NotesOptions): Promise<void> {
  const env = options.env ?? process.env
  const primary = fromEnvOrFile(env, 'DATABASE_URL')
  if (primary === undefined) {
    app.log.info('notes: off (DATABASE_URL is not set)')
    return
  }
  const replicas = (fromEnvOrFile(env, 'DATABASE_REPLICA_URL') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
  await app.register(postgres, { primary, replicas, secret: options.secret, routeHeader: true })
  await app.db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK])
    await tx.query(SCHEMA)
  })

  app.get('/notes', { config: { session: false } }, async (_request, reply) => {
    return await reply.type('text/html; charset=utf-8').send(page)
  })

  app.get('/api/notes', { config: { session: false } }, async (request) => {
    const { rows } = await request.db.read.query<Note>('SELECT id, body, created_at FROM example_notes ORDER BY id DESC LIMIT 20')
    return { notes: rows }
  })

  app.get<{ Params: { id: string } }>('/api/notes/:id', { config: { session: false } }, async (request, reply) => {
    if (!/^\d{1,18}$/.test(request.params.id)) return await reply.code(404).send({ error: 'no such note' })
    const { rows } = await request.db.read.query<Note>('SELECT id, body, created_at FROM example_notes WHERE id = $1', [request.params.id])
    return rows[0] ?? await reply.code(404).send({ error: 'no such note' })
  })

  app.post<{ Body: { text?: unknown } }>('/api/notes', { config: { session: false } }, async (request, reply) => {
    const text = request.body?.text
    if (typeof text !== 'string' || text.trim() === '' || text.length > MAX_TEXT) {
      return await reply.code(400).send({ error: `text must be 1 to ${MAX_TEXT} characters` })
    }
    const { rows } = await request.db.write.query<Note>('INSERT INTO example_notes (body) VALUES ($1) RETURNING id, body, created_at', [text])
    return await reply.code(201).send(rows[0])
  })
}
