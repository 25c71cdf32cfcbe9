import t from 'tap'
import { inspect } from 'node:util'
import pino from 'pino'
import { Redis } from 'ioredis'
import { bounded, resolveRedis, senderFor, type Sender } from '@scaleout/core'
import { adminFor, appFor, logSink, redisFor } from '../helpers/index.js'

// A failed command's arguments are the request's data: a session id in the key, a session or
// cached value. The coded error of a refused command keeps the command's name and Redis's reply
// text (in `cause`), and none of its arguments, whichever way the command went.

const KEY = 'sess:the-session-id'
const SECRET = 'the-users-data'

/** Everything of `err` a logger could show: its inspection, and pino's errWithCause serialization. */
function shown (err: unknown): string {
  const sink = logSink()
  pino({ serializers: { err: pino.stdSerializers.errWithCause } }, sink.logger.stream).error({ err }, 'failed')
  return inspect(err, { depth: 10, showHidden: true }) + JSON.stringify(sink.lines)
}

// Regression: ioredis's reply error, the coded error's cause, kept `command.args` (key and value).
t.test('a refused command\'s coded error names the command and Redis\'s reply, not its arguments', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  await admin.set(KEY, 'a string')
  const client = new Redis(server.port, server.host)
  t.teardown(() => client.disconnect())
  const app = appFor(t)
  const resolved = await resolveRedis(app, { url: server.url }, { plugin: '@scaleout/test' })
  const lean = senderFor(resolved.client, resolved.owned, 1000, [], resolved.duplicate)
  await lean.connected(2000)
  const paths: Array<[string, (name: string, args: string[]) => Promise<unknown>]> = [
    ['ioredis Command (direct)', senderFor(client, false, 1000).command],
    ['client.call() and bounded()', async (name, args) => await bounded(client.call(name, ...args), 1000, client)],
    ['lean link', (lean as Sender).command]
  ]
  for (const [path, send] of paths) {
    const err = await send('hset', [KEY, 'field', SECRET]).catch((e: unknown) => e) as Error & { code: string, cause: Error & { command?: unknown } }
    t.equal(err.code, 'SCALEOUT_ERR_REDIS_REPLY', path)
    t.equal(err.cause.message, 'WRONGTYPE Operation against a key holding the wrong kind of value', `${path}: Redis's text kept`)
    if (err.cause.command !== undefined) t.same(err.cause.command, { name: 'hset' }, `${path}: the command's name kept`)
    t.notOk(shown(err).includes(SECRET), `${path}: no value`)
    t.notOk(shown(err).includes(KEY), `${path}: no key`)
  }
})

// The same for a reply that means "not now" (coded SCALEOUT_ERR_REDIS_UNAVAILABLE): a write sent to a replica.
t.test('a write a replica refuses (READONLY): the unavailable error carries no arguments either', async (t) => {
  const primary = await redisFor(t)
  const replica = await redisFor(t, { args: ['--replicaof', primary.host, String(primary.port)] })
  const client = new Redis(replica.port, replica.host)
  t.teardown(() => client.disconnect())
  const err = await senderFor(client, false, 1000).command('set', [KEY, SECRET]).catch((e: unknown) => e) as Error & { code: string, cause: Error & { command?: unknown } }
  t.equal(err.code, 'SCALEOUT_ERR_REDIS_UNAVAILABLE')
  t.match(err.cause.message, /^READONLY /)
  t.same(err.cause.command, { name: 'set' })
  t.notOk(shown(err).includes(SECRET))
  t.notOk(shown(err).includes(KEY))
})
