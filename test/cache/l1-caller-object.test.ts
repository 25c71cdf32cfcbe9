import t from 'tap'
import cache, { type Codec } from '@scaleout/cache'
import { adminFor, appFor, logSink, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp, keyInGeneration } from './setup.js'

// L1 kept the object given to set() (and wrap()'s computed value, and a route response as built) by
// reference. The caller changing that object after set() changed what this instance served, while
// Redis and every other instance held the encoded value. And a value JSON does not round-trip (a
// Date, an undefined field, a Map, -0) was served by this instance as given (a Date) and by every
// other one, and by this one after an eviction, as decoded (an ISO string). L1 now serves what a
// Redis read gives: the codec's decoding of the encoded value, never the caller's object.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())
const admin = adminFor(t, server)

const WHEN = '2026-01-02T03:04:05.000Z'
/** A value JSON changes: a Date, an undefined field, -0, a Map, a Set. */
const lossy = (): Record<string, unknown> => ({ when: new Date(WHEN), gone: undefined, zero: -0, map: new Map([['a', 1]]), set: new Set([1]) })
const decoded = { when: WHEN, zero: 0, map: {}, set: {} }

/** Two instances on one Redis; `delivered(n)` waits until b heard n messages. */
async function pair (t: Parameters<typeof cacheApp>[0], options: Parameters<typeof cacheApp>[1] = {}): Promise<{ a: Awaited<ReturnType<typeof cacheApp>>, b: Awaited<ReturnType<typeof cacheApp>>, delivered: (n: number) => Promise<void> }> {
  const a = await cacheApp(t, { redis: server.url, ...options })
  const b = await cacheApp(t, { redis: server.url, ...options })
  const delivered = async (n: number): Promise<void> => {
    await waitUntil(`b received message ${n}`, () => b.cache.stats().bus.messages === n, 5000)
  }
  return { a, b, delivered }
}

/** JSON, counting the decodes. */
function countingCodec (): Codec & { decodes: number } {
  const codec = {
    name: 'counted',
    decodes: 0,
    encode: (value: unknown) => JSON.stringify(value),
    decode: (raw: string | Buffer) => {
      codec.decodes++
      // What a Redis read hands the codec: a string here would be a decode error, and a miss.
      if (!Buffer.isBuffer(raw)) throw new TypeError('decode got a string')
      return JSON.parse(raw.toString()) as unknown
    }
  }
  return codec
}

t.test('a value JSON does not round-trip is served by the instance that set it as by every other: decoded', async (t) => {
  const { a, b, delivered } = await pair(t)
  await a.cache.set('k', lossy())
  await delivered(1)
  t.equal(a.cache.stats().l1.entries, 1, 'a keeps it in L1')
  const onA = await a.cache.get<Record<string, unknown>>('k')
  const onB = await b.cache.get<Record<string, unknown>>('k')
  t.strictSame(onA, decoded)
  t.strictSame(onB, decoded)
  t.equal(typeof onA?.when, 'string', 'an ISO string, not the Date given')
  t.ok(Object.is(onA?.zero, 0), '-0 comes back as 0')
  t.notOk(Object.hasOwn(onA as object, 'gone'), 'an undefined field is dropped')
  t.equal(a.cache.stats().l1.hits, 1, 'a served it from L1')
})

t.test('changing an object after set() does not change what this instance serves', async (t) => {
  const app = await cacheApp(t, { redis: server.url })
  const value = { n: 1, list: [1] }
  await app.cache.set('k', value)
  value.n = 2
  value.list.push(2)
  t.strictSame(await app.cache.get('k'), { n: 1, list: [1] })
  t.equal(app.cache.stats().l1.hits, 1)
  t.not(await app.cache.get('k'), value)
})

t.test('set() keeps the encoded value in L1 and decodes it once, on its first hit; its bytes are the encoded size; a wrap() miss decodes once', async (t) => {
  const codec = countingCodec()
  const app = await cacheApp(t, { redis: server.url, codec })
  const value = { name: 'héllo', list: [1, 2, 3] }
  await app.cache.set('k', value)
  await app.cache.set('never-read', value)
  t.equal(codec.decodes, 0, 'set() decodes nothing')
  const bytes = 2 * Buffer.byteLength(JSON.stringify(value))
  t.equal(app.cache.stats().l1.bytes, bytes)
  const first = await app.cache.get('k')
  t.strictSame(first, value)
  t.equal(codec.decodes, 1)
  t.equal(await app.cache.get('k'), first, 'later hits share the decoded value')
  t.equal(await app.cache.wrap('k', () => 'unused'), first)
  t.equal(codec.decodes, 1, 'decoded once')
  t.equal(app.cache.stats().l1.bytes, bytes, 'the same bytes once decoded')
  t.equal(app.cache.stats().l1.hits, 3)
  const computed = await app.cache.wrap('w', () => value)
  t.strictSame(computed, value)
  t.equal(codec.decodes, 2, 'a wrap() miss decodes once')
  t.equal(await app.cache.wrap('w', () => value), computed, 'and keeps that value in L1')
  t.equal(codec.decodes, 2)
})

t.test('a Buffer a codec returns is copied: changing it after set() does not change what this instance serves', async (t) => {
  const codec: Codec = { name: 'raw', encode: (value) => value as Buffer, decode: (raw) => Buffer.from(raw) }
  const app = await cacheApp(t, { redis: server.url, codec })
  const value = Buffer.from('abc')
  await app.cache.set('k', value)
  value.write('xyz')
  t.strictSame(await app.cache.get('k'), Buffer.from('abc'))
  t.equal(app.cache.stats().l1.hits, 1)
})

t.test('wrap() returns on a miss what a hit returns: the decoded value, on every instance', async (t) => {
  const { a, b, delivered } = await pair(t)
  let calls = 0
  let computed: Record<string, unknown> | undefined
  const fn = (): Record<string, unknown> => {
    calls++
    computed = lossy()
    return computed
  }
  const [first, joined] = await Promise.all([a.cache.wrap('k', fn), a.cache.wrap('k', fn)])
  t.strictSame(first, decoded, 'the miss returns the decoded value, not the Date fn gave')
  t.not(first, computed)
  t.equal(joined, first, 'a coalesced call gets the same')
  await delivered(1)
  ;(computed as Record<string, unknown>).when = 'changed'
  t.equal(await a.cache.wrap('k', fn), first, 'a hit on this instance serves the same object')
  t.equal(a.cache.stats().l1.hits, 1)
  t.strictSame(await b.cache.wrap('k', fn), decoded, 'as does another instance')
  t.equal(calls, 1)
})

t.test('wrap() returns a value it could encode but not store decoded, and one it could not encode as fn gave it', async (t) => {
  const app = await cacheApp(t, { redis: server.url, maxBytes: 64 })
  const cleared = await app.cache.wrap('cleared', async () => {
    // A clear() while fn runs: the value is returned, not stored.
    await app.cache.clear()
    return lossy()
  })
  t.strictSame(cleared, decoded)
  t.equal(app.cache.stats().storeErrors, 1)
  t.equal(await app.cache.get('cleared'), undefined, 'not stored')
  const large = { text: 'x'.repeat(100), when: new Date(WHEN) }
  t.equal(await app.cache.wrap('large', () => large), large, 'too large: fn\'s own object')
  t.equal(app.cache.stats().storeErrors, 2)
})

t.test('a route response served from this instance\'s L1 is the codec\'s decoding of what was stored, as on another instance', async (t) => {
  // A codec that does not round-trip a response exactly: it marks every body it decodes.
  const codec: Codec = {
    name: 'marking',
    encode: (value) => JSON.stringify(value),
    decode: (raw) => JSON.parse(raw.toString(), (k, v: unknown) => k === 'b' ? `${String(v)}!` : v)
  }
  let calls = 0
  const route = (app: Awaited<ReturnType<typeof cacheApp>>): void => {
    app.get('/r', { config: { cache: { ttl: '60s' } } }, async () => `body ${++calls}`)
  }
  const a = await cacheApp(t, { redis: server.url, codec }, route)
  const b = await cacheApp(t, { redis: server.url, codec }, route)
  const miss = await a.inject('/r')
  t.equal(miss.headers['x-cache'], 'miss')
  t.equal(miss.body, 'body 1')
  await waitUntil('b received the message', () => b.cache.stats().bus.messages === 1, 5000)
  const onA = await a.inject('/r')
  const onB = await b.inject('/r')
  t.equal(onA.headers['x-cache'], 'hit')
  t.equal(a.cache.stats().l1.hits, 1, 'a answered from L1')
  t.equal(onA.body, 'body 1!')
  t.equal(onB.body, 'body 1!')
  t.equal(calls, 1)
})

t.test('a value its codec cannot decode', async (t) => {
  const fussy = (): Codec => ({ name: 'fussy', encode: (v) => JSON.stringify(v), decode: () => { throw new Error('nope') } })

  t.test('is not served from L1 after set(): a miss, counted and logged, as from Redis', async (t) => {
    const sink = logSink('warn')
    const app = appFor(t, { logger: sink.logger })
    await app.register(cache, { redis: server.url, timeout: 3000, heartbeatInterval: false, codec: fussy() })
    await app.ready()
    await app.cache.set('k', 'v')
    t.equal(app.cache.stats().l1.entries, 1)
    t.equal(await app.cache.get('k'), undefined)
    const stats = app.cache.stats()
    t.equal(stats.l1.entries, 0, 'dropped from L1')
    t.equal(stats.l1.hits, 0)
    t.equal(stats.l1.misses, 1)
    t.equal(stats.l2.hits, 0)
    t.equal(stats.decodeErrors, 2, 'in L1, then in Redis')
    t.same(sink.messages(40), ['@scaleout/cache: unreadable entry treated as a miss'], 'the second held back: at most one a minute')
  })

  t.test('is returned by wrap() as fn gave it, counted and logged, and is not served from L1', async (t) => {
    const sink = logSink('warn')
    const app = appFor(t, { logger: sink.logger })
    await app.register(cache, { redis: server.url, timeout: 3000, heartbeatInterval: false, codec: fussy() })
    await app.ready()
    const value = { n: 1 }
    let calls = 0
    t.equal(await app.cache.wrap('k', () => { calls++; return value }), value)
    t.equal(app.cache.stats().decodeErrors, 1)
    t.equal(await admin.get(await keyInGeneration(admin, 'k', 'e', 'scaleout:cache:fussy.v1:')).then((raw) => raw?.split('\n')[1]), '{"n":1}', 'stored')
    t.same(sink.messages(40), ['@scaleout/cache: wrap could not decode the computed value; returned it as computed'])
    t.equal(await app.cache.wrap('k', () => { calls++; return value }), value)
    t.equal(calls, 2, 'every instance computes it again, this one included')
  })
})
