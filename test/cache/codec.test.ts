import t from 'tap'
import type { Codec } from '@scaleout/cache'
import { adminFor, redisFor } from '../helpers/index.js'
import { cacheApp, keyInGeneration } from './setup.js'

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())
const admin = adminFor(t, server)
const entryKey = async (key: string): Promise<string> => await keyInGeneration(admin, key)

t.test('JSON does not round-trip Date, Map or Buffer, and refuses BigInt and undefined with a coded error', async (t) => {
  const app = await cacheApp(t, { redis: server.url, l1: false })
  const when = new Date('2026-01-02T03:04:05.000Z')
  await app.cache.set('k', { when, map: new Map([['a', 1]]), buf: Buffer.from('hi') })
  t.same(await app.cache.get('k'), { when: '2026-01-02T03:04:05.000Z', map: {}, buf: { type: 'Buffer', data: [104, 105] } })
  await t.rejects(app.cache.set('big', 10n), { code: 'SCALEOUT_ERR_ENCODE', statusCode: 500 })
  await t.rejects(app.cache.set('u', undefined), { code: 'SCALEOUT_ERR_ENCODE', message: 'Value could not be encoded: undefined has no JSON form' })
  t.same(await admin.keys('*:e:*'), [await entryKey('k')])
})

t.test('a value over maxBytes is refused with SCALEOUT_ERR_VALUE_TOO_LARGE and nothing is written', async (t) => {
  const app = await cacheApp(t, { redis: server.url, maxBytes: 64 })
  await app.cache.set('small', 'x'.repeat(60))
  await t.rejects(app.cache.set('large', 'x'.repeat(63)), { code: 'SCALEOUT_ERR_VALUE_TOO_LARGE', statusCode: 413, message: 'Encoded value is 65 bytes, over the limit of 64 bytes' })
  t.same(await admin.keys('*:e:*'), [await entryKey('small')])
})

t.test('decoding is safe against prototype pollution', async (t) => {
  const app = await cacheApp(t, { redis: server.url, l1: false })
  await app.cache.set('k', 'placeholder')
  const header = (await admin.get(await entryKey('k')) as string).split('\n')[0] as string
  await admin.set(await entryKey('k'), header + '\n{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"ok":1}', 'KEEPTTL')
  const value = await app.cache.get<Record<string, unknown>>('k')
  t.same(value, { ok: 1 })
  t.notOk(Object.hasOwn(value as object, '__proto__'))
  t.equal((Object.assign({}, value) as Record<string, unknown>).polluted, undefined)
  t.equal(({} as Record<string, unknown>).polluted, undefined)
})

t.test('garbage in Redis is a miss, logged and counted, never an exception', async (t) => {
  const app = await cacheApp(t, { redis: server.url, l1: false })
  const garbage = ['no newline at all', 'not json\n1', '{"a":1}\n1', '[1]\n1', '[1,"2"]\n1', '[1,2,["odd"]]\n1', '[1,2,[]]\n1', '[1,2,[1,2]]\n1', '[1,2,["t","x"],4]\n1', `[1,${Date.now() + 60_000}]\n{broken`]
  t.equal(await app.cache.get('g0'), undefined, 'the generation is made')
  for (const [i, raw] of garbage.entries()) await admin.set(await entryKey(`g${i}`), raw)
  for (let i = 0; i < garbage.length; i++) t.equal(await app.cache.get(`g${i}`), undefined, JSON.stringify(garbage[i]))
  t.equal(app.cache.stats().decodeErrors, garbage.length)
  t.equal(await app.cache.wrap('g0', () => 'recomputed'), 'recomputed', 'wrap replaces it')
  t.equal(await app.cache.get('g0'), 'recomputed')
})

t.test('a pluggable codec (binary here): its name goes into the key prefix', async (t) => {
  const codec: Codec = {
    name: 'utf16',
    encode: (value) => Buffer.from(String(value), 'utf16le'),
    decode: (raw) => (raw as Buffer).toString('utf16le')
  }
  const app = await cacheApp(t, { redis: server.url, codec, l1: false })
  await app.cache.set('k', 'héllo ✓')
  t.equal(await app.cache.get('k'), 'héllo ✓')
  t.same(await admin.keys('*:e:*'), [await keyInGeneration(admin, 'k', 'e', 'scaleout:cache:utf16.v1:')])
  const json = await cacheApp(t, { redis: server.url, l1: false })
  t.equal(await json.cache.get('k'), undefined, 'another codec never reads these entries')
})

t.test('a codec that throws on decode is a miss (SCALEOUT_ERR_DECODE logged)', async (t) => {
  const codec: Codec = { name: 'fussy', encode: (v) => String(v), decode: () => { throw new Error('nope') } }
  const app = await cacheApp(t, { redis: server.url, codec, l1: false })
  await app.cache.set('k', 'v')
  t.equal(await app.cache.get('k'), undefined)
  t.equal(app.cache.stats().decodeErrors, 1)
})
