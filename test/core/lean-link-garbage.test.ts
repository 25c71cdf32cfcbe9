import t from 'tap'
import { resolveRedis, senderFor } from '@scaleout/core'
import { appFor, fakeRedis, logSink, waitUntil } from '../helpers/index.js'

// The lean link's reader (lib/src/resp.ts) facing a broken or hostile server: a reply whose header
// is not RESP2 drops the connection with a coded error, never gives a command a wrong value, and
// never waits for bytes the header promised.

// Regression: integer() took any byte for a digit: ":12a" read as 169, "$1x" as a length of 82
// (the command then waited for 84 bytes until its deadline).
t.test('a malformed reply header drops the connection; the command fails coded; the next connection serves', async (t) => {
  const garbage: Record<string, string> = { int: ':12a\r\n', len: '$1x\r\nv\r\n', count: '*1x\r\n:1\r\n', bulk: '$1\r\nvalue\r\n' }
  const fake = await fakeRedis(([name, key]) => name === 'get' ? garbage[key as string] ?? '$2\r\nok\r\n' : undefined)
  t.teardown(fake.close)
  const sink = logSink()
  const app = appFor(t, { logger: sink.logger })
  const resolved = await resolveRedis(app, { url: `redis://127.0.0.1:${fake.port}`, protocol: 2 }, { plugin: '@scaleout/test' })
  await app.ready()
  const send = senderFor(resolved.client, resolved.owned, 5000, [], resolved.duplicate)
  await send.connected(2000)
  for (const key of Object.keys(garbage)) {
    const outcome = await send.command('get', [key]).then((value) => ({ value }), (err: { code: string }) => err.code)
    t.equal(outcome, 'SCALEOUT_ERR_REDIS_UNAVAILABLE', `${JSON.stringify(garbage[key])}: the command fails, coded`)
    await waitUntil('the link serves again', async () => await send.command('get', ['fine']).then((value) => value === 'ok', () => false))
  }
  const logged = sink.lines.filter((line) => line.msg === '@scaleout/test: Redis connection error')
  t.ok(logged.length > 0, 'the dropped connection is logged')
  for (const line of logged) {
    const err = line.err as { code?: string, message: string }
    t.equal(err.code, 'SCALEOUT_ERR_DECODE')
    t.match(err.message, /: not a RESP2 reply: /, 'what was wrong, in the cause')
  }
})
