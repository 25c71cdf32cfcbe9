import type { FastifyInstance } from 'fastify'
import pg from 'pg'

// What every postgres variant shares: the table it reads and writes, a random key per request (many
// keys, not one hot row), and a count of the statements each server sends to each host, so the
// runner reports round trips per request next to throughput.

export const ROWS = 10_000
export const TABLE = 'CREATE TABLE bench_notes (id bigint PRIMARY KEY, body text NOT NULL)'
export const FILL = `INSERT INTO bench_notes (id, body) SELECT i, 'note ' || i FROM generate_series(1, ${ROWS}) AS i`
export const READ = 'SELECT id, body FROM bench_notes WHERE id = $1'
export const WRITE = 'UPDATE bench_notes SET body = $2 WHERE id = $1'

/** The options the runner gives every postgres server: both URLs, and which host a raw variant uses. */
export interface PgServerOptions {
  primaryUrl: string
  replicaUrl: string
  target?: 'primary' | 'replica'
  mode?: 'request' | 'instance'
  secret?: string
}

export function pgOptions (options: Record<string, unknown>): PgServerOptions {
  return options as unknown as PgServerOptions
}

export function randomId (): number {
  return 1 + Math.floor(Math.random() * ROWS)
}

export function writeValues (): [number, string] {
  return [randomId(), `edited ${Date.now()}`]
}

/**
 * Counts statements by the port of the server they went to (pg.Client#query is what pools, the
 * plugin and @fastify/postgres all end in), served on GET /__statements for the runner.
 */
export function countStatements (app: FastifyInstance, ports: { primary: number, replica: number }): void {
  const counts: Record<string, number> = { primary: 0, replica: 0 }
  const byPort = new Map([[ports.primary, 'primary'], [ports.replica, 'replica']])
  const original = pg.Client.prototype.query
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const role = byPort.get(this.port)
    if (role !== undefined) counts[role] = (counts[role] ?? 0) + 1
    return (original as (...a: unknown[]) => unknown).apply(this, args)
  } as typeof original
  app.get('/__statements', async () => counts)
}

export function portOf (url: string): number {
  return Number(new URL(url).port)
}
