import t from 'tap'
import fc from 'fast-check'
import { redisFor } from '../helpers/index.js'
import { build, cookieOf, OLD_SECRET, valueOf } from './setup.js'
import { newId, sign } from '../../plugins/session/src/signing.js'

// Thousands of random, truncated, forged and oversized cookies: never a 5xx, never a Redis call.
t.test('cookie fuzz', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url })
  const valid = valueOf(cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string)
  const [id, signature] = valid.split('.') as [string, string]

  const b64 = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')
  const mutate = (text: string): fc.Arbitrary<string> => fc.tuple(fc.nat(text.length - 1), b64).map(([at, c]) =>
    text.slice(0, at) + (text[at] === c ? (c === 'A' ? 'B' : 'A') : c) + text.slice(at + 1))
  const value = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.nat(valid.length - 1).map((n) => valid.slice(0, n)),
    fc.nat(valid.length - 1).map((n) => valid.slice(n + 1)),
    mutate(valid),
    mutate(id).map((forged) => `${forged}.${signature}`),
    fc.constant(null).map(() => sign(newId(), [OLD_SECRET])),
    fc.stringMatching(/^[A-Za-z0-9_.-]{1,5}$/).map((s) => valid + s),
    fc.integer({ min: 4097, max: 20_000 }).map((n) => valid + 'A'.repeat(n)),
    fc.stringMatching(/^[A-Za-z0-9_-]{51}\.[A-Za-z0-9_-]{43}$/)
  )
  const header = fc.tuple(value, fc.constantFrom('sessionId=', 'sessionId="', ' sessionId=', 'a=b; sessionId=', 'sessionId=x; sessionId='))
    .map(([v, name]) => name + v)
    .filter((h) => !/[\r\n\0]/.test(h) && !/[^\t\x20-\x7e\x80-\xff]/.test(h))

  const before = await server.commandStats()
  let requests = 0
  await fc.assert(fc.asyncProperty(header, async (cookie) => {
    requests++
    const res = await app.inject({ url: '/get/n', headers: { cookie } })
    return res.statusCode === 200 && res.json().value === null
  }), { numRuns: 2000 })
  const after = await server.commandStats()
  t.equal(requests >= 2000, true)
  t.same(Object.keys(after).filter((name) => name !== 'info' && after[name] !== before[name]), [], 'no Redis command at all')
  t.same((await app.inject({ url: '/get/n', headers: { cookie: 'sessionId=' + valid } })).json(), { value: 1 }, 'the real cookie still works')
})
