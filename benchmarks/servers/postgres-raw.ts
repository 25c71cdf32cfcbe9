import Fastify from 'fastify'
import pg from 'pg'
import type { BuildServer } from '../types.js'
import { countStatements, pgOptions, portOf, READ, randomId, WRITE, writeValues } from './postgres-common.js'

/** A hand-written pg.Pool on one host (the replica for reads, the primary for writes): the floor. */
export const build: BuildServer = async ({ options }) => {
  const o = pgOptions(options)
  const app = Fastify()
  countStatements(app, { primary: portOf(o.primaryUrl), replica: portOf(o.replicaUrl) })
  const pool = new pg.Pool({ connectionString: o.target === 'primary' ? o.primaryUrl : o.replicaUrl, max: 10 })
  pool.on('error', () => {})
  app.addHook('onClose', async () => { await pool.end() })
  app.get('/read', async () => (await pool.query(READ, [randomId()])).rows[0])
  app.post('/write', async () => ({ updated: (await pool.query(WRITE, writeValues())).rowCount }))
  return app
}
