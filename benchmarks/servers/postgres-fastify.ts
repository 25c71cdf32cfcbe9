import Fastify from 'fastify'
import fastifyPostgres from '@fastify/postgres'
import type { BuildServer } from '../types.js'
import { countStatements, pgOptions, portOf, READ, randomId, WRITE, writeValues } from './postgres-common.js'

/** @fastify/postgres on one host (it has no replica support): the replica for reads, the primary for writes. */
export const build: BuildServer = async ({ options }) => {
  const o = pgOptions(options)
  const app = Fastify()
  countStatements(app, { primary: portOf(o.primaryUrl), replica: portOf(o.replicaUrl) })
  await app.register(fastifyPostgres, { connectionString: o.target === 'primary' ? o.primaryUrl : o.replicaUrl, max: 10 })
  app.get('/read', async () => (await app.pg.query(READ, [randomId()])).rows[0])
  app.post('/write', async () => ({ updated: (await app.pg.query(WRITE, writeValues())).rowCount }))
  return app
}
