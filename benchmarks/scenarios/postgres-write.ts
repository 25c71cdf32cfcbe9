import { pgScenario, type PgScenario } from '../postgres-driver.js'

const write = { method: 'POST' as const, path: '/write' }
const spec: PgScenario = {
  name: 'postgres-write',
  description: 'POST /write: one UPDATE by primary key (10,000 rows, a random key per request) on the primary; pools of 10',
  baseline: 'bare fastify',
  variants: [
    { name: 'bare fastify', server: 'servers/bare.ts', request: { path: '/' } },
    { name: 'raw pg.Pool on the primary', server: 'servers/postgres-raw.ts', options: { target: 'primary' }, request: write },
    { name: '@fastify/postgres on the primary', server: 'servers/postgres-fastify.ts', options: { target: 'primary' }, request: write },
    { name: '@scaleout/postgres request.db.write (token)', server: 'servers/postgres-scaleout.ts', options: { mode: 'request' }, request: write },
    { name: '@scaleout/postgres fastify.db.write (no token)', server: 'servers/postgres-scaleout.ts', options: { mode: 'instance' }, request: write }
  ],
  targets: [
    { variant: '@scaleout/postgres request.db.write (token)', against: 'raw pg.Pool on the primary', min: 0.85 }
  ]
}

export default pgScenario(spec)
