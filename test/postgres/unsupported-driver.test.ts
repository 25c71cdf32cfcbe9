import t from 'tap'
import Fastify from 'fastify'
import pg from 'pg'
import postgres from '@scaleout/postgres'
import { freePort } from '../helpers/ports.js'

// Reads run read-only through a subclass of pg's Query (read-only.ts) that relies on members pg
// does not document. A pg without one of them is refused at registration, naming the member, rather
// than sending reads that might not be read-only. No server is needed: nothing connects.

const MEMBERS = ['requiresPreparation', 'prepare', 'submit', 'handleRowDescription', 'handleDataRow', 'handleCommandComplete']

t.test('a pg whose Query lacks a member the read-only reads use is refused at registration', async (t) => {
  const url = `postgres://u:p@127.0.0.1:${await freePort()}/db`
  const proto = pg.Query.prototype as unknown as Record<string, unknown>
  for (const member of MEMBERS) {
    const kept = proto[member]
    t.type(kept, 'function', `pg ${member} is there to begin with`)
    delete proto[member]
    const app = Fastify()
    try {
      await t.rejects(async () => {
        await app.register(postgres, { primary: url, secret: 's'.repeat(32) })
        await app.ready()
      }, {
        code: 'SCALEOUT_ERR_DB_UNSUPPORTED_DRIVER',
        statusCode: 500,
        message: `The installed pg (node-postgres) has no Query.prototype.${member}, which @scaleout/postgres needs to run reads read-only: install the pg version its package.json names`
      })
    } finally {
      proto[member] = kept
      await app.close()
    }
  }
  // With every member back, the same registration goes through.
  const app = Fastify()
  t.teardown(async () => { await app.close() })
  await app.register(postgres, { primary: url, secret: 's'.repeat(32) })
  await app.ready()
  t.type(app.db, 'object')
})
