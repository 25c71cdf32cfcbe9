import Fastify from 'fastify'
import postgres from '@scaleout/postgres'
import type { BuildServer } from '../types.js'
import { countStatements, pgOptions, portOf, READ, randomId, WRITE, writeValues } from './postgres-common.js'

/**
 * @scaleout/postgres with the primary and the replica. `mode: 'request'` goes through request.db
 * (a write then costs its consistency token); `'instance'` through fastify.db (no token).
 */
export const build: BuildServer = async ({ options }) => {
  const o = pgOptions(options)
  const app = Fastify()
  countStatements(app, { primary: portOf(o.primaryUrl), replica: portOf(o.replicaUrl) })
  await app.register(postgres, { primary: o.primaryUrl, replicas: [o.replicaUrl], secret: o.secret ?? 'a-benchmark-secret-of-32-characters!', poolSize: 10 })
  if (o.mode === 'instance') {
    app.get('/read', async () => (await app.db.read.query(READ, [randomId()])).rows[0])
    app.post('/write', async () => ({ updated: (await app.db.write.query(WRITE, writeValues())).rowCount }))
  } else {
    app.get('/read', async (request) => (await request.db.read.query(READ, [randomId()])).rows[0])
    app.post('/write', async (request) => ({ updated: (await request.db.write.query(WRITE, writeValues())).rowCount }))
  }
  return app
}
