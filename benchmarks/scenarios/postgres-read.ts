import { pgScenario, type PgScenario } from '../postgres-driver.js'

const read = { path: '/read' }
const spec: PgScenario = {
  name: 'postgres-read',
  description: 'GET /read: one row by primary key (10,000 rows, a random key per request) on the replica; pools of 10',
  baseline: 'bare fastify',
  variants: [
    { name: 'bare fastify', server: 'servers/bare.ts', request: { path: '/' } },
    { name: 'raw pg.Pool on the replica', server: 'servers/postgres-raw.ts', options: { target: 'replica' }, request: read },
    { name: '@fastify/postgres on the replica', server: 'servers/postgres-fastify.ts', options: { target: 'replica' }, request: read },
    { name: '@scaleout/postgres request.db.read', server: 'servers/postgres-scaleout.ts', options: { mode: 'request' }, request: read },
    {
      name: '@scaleout/postgres request.db.read + token',
      server: 'servers/postgres-scaleout.ts',
      options: { mode: 'request' },
      request: read,
      // A client that wrote: its token rides on every read (the replica has replayed it by then).
      prepare: async (url) => {
        const res = await fetch(`${url}/write`, { method: 'POST' })
        const token = res.headers.get('x-scaleout-db-token')
        if (token === null) throw new Error('no token after a write')
        return { 'x-scaleout-db-token': token }
      }
    }
  ],
  targets: [
    { variant: '@scaleout/postgres request.db.read', against: 'raw pg.Pool on the replica', min: 0.95 },
    { variant: '@scaleout/postgres request.db.read + token', against: 'raw pg.Pool on the replica', min: 0.95 }
  ]
}

export default pgScenario(spec)
