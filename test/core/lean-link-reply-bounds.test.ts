import t, { type Test } from 'tap'
import { resolveRedis, senderFor, type Sender } from '@scaleout/core'
import { appFor, fakeRedis, logSink, waitUntil } from '../helpers/index.js'

// The lean link's reader (lib/src/resp.ts) facing headers that claim more than Redis sends, and
// integers a Number cannot hold. A fake server, for bytes no real Redis sends.

const DEADLINE = 30_000

/** A sender on a lean link to a fake server answering GET `key` with `answers[key]`, else "ok". */
async function linkTo (t: Test, answers: Record<string, string>): Promise<{ send: Sender, connectionErrors: () => Array<{ code?: string, message: string }> }> {
  const fake = await fakeRedis(([name, key]) => name === 'get' ? answers[key as string] ?? '$2\r\nok\r\n' : undefined)
  t.teardown(fake.close)
  const sink = logSink()
  const app = appFor(t, { logger: sink.logger })
  // A bound (the sender's and the client's commandTimeout) the test never waits for: a command
  // that fails here fails on what came, not at its deadline.
  const resolved = await resolveRedis(app, { url: `redis://127.0.0.1:${fake.port}`, protocol: 2 }, { plugin: '@scaleout/test', timeout: DEADLINE })
  await app.ready()
  const send = senderFor(resolved.client, resolved.owned, DEADLINE, [], resolved.duplicate)
  await send.connected(2000)
  const connectionErrors = (): Array<{ code?: string, message: string }> => sink.lines.filter((line) => line.msg === '@scaleout/test: Redis connection error').map((line) => line.err as { code?: string, message: string })
  return { send, connectionErrors }
}

async function outcome (promise: Promise<unknown>): Promise<unknown> {
  return await promise.then((value) => ({ value }), (err: { code: string }) => err.code)
}

// Regression: "$99999999999" had the link hold whatever came after it until the command's
// deadline; "*99999999999" had it wait as long for items.
t.test('a header claiming a huge length drops the connection at once, coded; the next connection serves', async (t) => {
  const huge: Record<string, string> = { bulk: '$99999999999\r\n', count: '*99999999999\r\n', endless: '$' + '9'.repeat(64) }
  const { send, connectionErrors } = await linkTo(t, huge)
  for (const key of Object.keys(huge)) {
    const before = connectionErrors().length
    t.equal(await outcome(send.command('get', [key])), 'SCALEOUT_ERR_REDIS_UNAVAILABLE', `${JSON.stringify(huge[key])}: the command fails long before its deadline`)
    const logged = connectionErrors().slice(before)
    t.equal(logged.length, 1, 'the dropped connection is logged once')
    t.equal(logged[0]?.code, 'SCALEOUT_ERR_DECODE')
    t.match(logged[0]?.message, /: not a RESP2 reply: (a bulk length over 512 MiB|an array of more than 2\^32-1 items|a header longer than a 64-bit number)$/)
    await waitUntil('the link serves again', async () => await send.command('get', ['fine']).then((value) => value === 'ok', () => false))
  }
})

t.test('a long bulk reply within the bound still reads', async (t) => {
  const value = 'v'.repeat(24 << 20)
  const { send, connectionErrors } = await linkTo(t, { long: `$${value.length}\r\n${value}\r\n` })
  const [long, next] = await Promise.all([send.command<string>('get', ['long']), send.command('get', ['next'])])
  t.equal(long.length, value.length)
  t.ok(long === value, 'the same 24 MiB string')
  t.equal(next, 'ok')
  t.same(connectionErrors(), [])
})

// Regression: ":9007199254740993" gave the command 9007199254740992, a wrong count as a right one.
t.test('an integer reply a Number cannot hold fails its command with SCALEOUT_ERR_DECODE; the connection stays', async (t) => {
  const { send, connectionErrors } = await linkTo(t, {
    safe: ':9007199254740991\r\n',
    negative: ':-9007199254740991\r\n',
    unsafe: ':9007199254740993\r\n',
    min: ':-9223372036854775808\r\n',
    nested: '*2\r\n$1\r\nx\r\n*1\r\n:9223372036854775807\r\n'
  })
  const outcomes = await Promise.all(['safe', 'negative', 'unsafe', 'min', 'nested', 'after'].map(async (key) => await outcome(send.command('get', [key]))))
  t.same(outcomes, [{ value: 9007199254740991 }, { value: -9007199254740991 }, 'SCALEOUT_ERR_DECODE', 'SCALEOUT_ERR_DECODE', 'SCALEOUT_ERR_DECODE', { value: 'ok' }])
  const err = await send.command('get', ['unsafe']).catch((err: Error) => err)
  t.equal(((err as Error).cause as Error).message, 'an integer reply beyond Number.MAX_SAFE_INTEGER')
  t.same(connectionErrors(), [], 'well-formed RESP2: the connection was not dropped')
})
