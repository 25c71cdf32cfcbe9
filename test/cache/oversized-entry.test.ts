import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import cache, { type Codec } from '@scaleout/cache'
import { adminFor, appFor, logSink, redisFor } from '../helpers/index.js'
import { keyInGeneration } from './setup.js'

// An entry larger than the cache's limits, planted in Redis (by anyone who can write there, or by an
// instance with a larger maxBytes), was decoded whole and kept in L1: one read of a planted 10 MB
// value cost every instance that read it a 10 MB decode, and flushed its L1 of everything else. A
// header naming more tags than a call may carry (or tags no call could name) sent one GET per tag.
// A read now refuses, before decoding anything, a value over maxBytes and a header no write could
// have made: a miss, counted in decodeErrors, logged once then at most once a minute.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())
const admin = adminFor(t, server)

/** JSON, counting its decodes. */
function counting (): Codec & { decodes: number } {
  const codec = {
    name: 'json',
    decodes: 0,
    encode: (value: unknown) => JSON.stringify(value),
    decode: (raw: string | Buffer) => {
      codec.decodes++
      return JSON.parse(raw.toString()) as unknown
    }
  }
  return codec
}

async function appWith (t: Test, options: Record<string, unknown> = {}): Promise<{ app: FastifyInstance, codec: ReturnType<typeof counting>, sink: ReturnType<typeof logSink> }> {
  const sink = logSink('warn')
  const codec = counting()
  const app = appFor(t, { logger: sink.logger })
  await app.register(cache, { redis: server.url, timeout: 3000, heartbeatInterval: false, maxBytes: 1000, codec, ...options })
  app.get('/page', { config: { cache: { ttl: '60s' } } }, async () => 'from the handler')
  await app.ready()
  return { app, codec, sink }
}

const header = (): string => JSON.stringify([Date.now() + 60_000, Date.now() + 60_000])
const big = JSON.stringify('x'.repeat(5000))
const UNREADABLE = '@scaleout/cache: unreadable entry treated as a miss'

t.test('regression: get() decoded a planted value over maxBytes and kept it in L1', async (t) => {
  const { app, codec, sink } = await appWith(t)
  await app.cache.set('small', 'v')
  await admin.set(await keyInGeneration(admin, 'k'), header() + '\n' + big)
  const before = codec.decodes
  t.equal(await app.cache.get('k'), undefined)
  t.equal(await app.cache.get('k'), undefined)
  t.equal(codec.decodes, before, 'never decoded')
  const stats = app.cache.stats()
  t.same([stats.l1.entries, stats.l1.bytes, stats.l1.evictions], [1, 3, 0], 'L1 holds only the small value')
  t.same([stats.l2.hits, stats.l2.misses, stats.decodeErrors], [0, 0, 2])
  t.same(sink.messages(40), [UNREADABLE], 'logged once')
  t.equal(sink.lines[0]?.key, 'k')
  t.equal((sink.lines[0]?.err as { code?: string }).code, 'SCALEOUT_ERR_VALUE_TOO_LARGE')
  t.equal(await app.cache.get('small'), 'v')
})

t.test('regression: wrap() served a planted value over maxBytes; it computes and overwrites it', async (t) => {
  const { app, codec } = await appWith(t, { l1: false })
  await app.cache.set('small', 'v')
  const key = await keyInGeneration(admin, 'k')
  await admin.set(key, header() + '\n' + big)
  const before = codec.decodes
  t.equal(await app.cache.wrap('k', () => 'computed'), 'computed')
  t.equal(codec.decodes, before + 1, 'only the computed value')
  t.equal((await admin.get(key))?.split('\n')[1], '"computed"')
  t.equal(app.cache.stats().decodeErrors, 1)
})

t.test('regression: the route cache served a planted response over maxBytes', async (t) => {
  const { app } = await appWith(t)
  t.equal((await app.inject('/page')).headers['x-cache'], 'miss')
  const [key] = await admin.keys('*:r:*')
  const raw = await admin.get(key as string) as string
  const stored = JSON.parse(raw.slice(raw.indexOf('\n') + 1)) as { b: string }
  stored.b = 'planted '.repeat(200)
  await admin.set(key as string, raw.slice(0, raw.indexOf('\n') + 1) + JSON.stringify(stored), 'KEEPTTL')
  const other = await appWith(t)
  const res = await other.app.inject('/page')
  t.same([res.statusCode, res.headers['x-cache'], res.body], [200, 'miss', 'from the handler'])
  t.equal(other.app.cache.stats().decodeErrors, 1)
  t.equal((await other.app.inject('/page')).headers['x-cache'], 'hit', 'stored afresh')
})

t.test('regression: a planted header no write could make (too long, too many tags, a tag no call may name) was parsed and sent one GET per tag', async (t) => {
  const { app, codec } = await appWith(t, { l1: false })
  await app.cache.set('small', 'v')
  const expiry = Date.now() + 60_000
  const cases = {
    'too many tags': Array.from({ length: 1001 }, (_, i) => [`t${i}`, 'x']).flat(),
    'a tag too long': ['t'.repeat(1025), 'x'],
    'an empty tag': ['', 'x'],
    'a tag with a lone surrogate': ['a\uD800', 'x'],
    'a token too long': ['t', 'x'.repeat(65)]
  }
  const headers = Object.values(cases).map((pairs) => JSON.stringify([expiry, expiry, pairs]))
  // Valid JSON, but longer than any header a write makes: never parsed.
  headers.push(JSON.stringify([expiry, expiry, ['t', 'x']]) + ' '.repeat(7_000_000))
  for (const [i, header] of headers.entries()) await admin.set(await keyInGeneration(admin, `k${i}`), header + '\n"v"')
  const before = codec.decodes
  const { result, commands } = await server.countCommands(async () => {
    const values = []
    for (let i = 0; i < headers.length; i++) values.push(await app.cache.get(`k${i}`))
    return values
  })
  t.same(result, headers.map(() => undefined))
  t.same(commands, { get: headers.length }, 'the entry only, never its tags')
  t.equal(codec.decodes, before)
  t.equal(app.cache.stats().decodeErrors, headers.length)
})

t.test('an entry at the limits is read: a value of maxBytes with 1000 tags of 1024 characters', async (t) => {
  const { app } = await appWith(t, { l1: false })
  const tags = Array.from({ length: 1000 }, (_, i) => String(i).padEnd(1024, '\u0001'))
  const value = 'x'.repeat(998)
  await app.cache.set('k', value, { tags })
  t.equal(await app.cache.get('k'), value)
  t.equal(app.cache.stats().decodeErrors, 0)
})
