import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

const CHANNEL = 'scaleout:cache:json.v1:bus'
const GEN = 'scaleout:cache:json.v1:gen'

/** Waits until every instance received `count` bus messages in total. */
async function delivered (apps: FastifyInstance[], count: number): Promise<void> {
  await waitUntil(`${count} messages each`, () => apps.every((app) => app.cache.stats().bus.messages === count), 5000)
}

t.test('regression: racing clear() calls split the instances across generations', async (t) => {
  const apps = await Promise.all([1, 2, 3].map(async () => await cacheApp(t, { redis: server.url })))
  const admin = adminFor(t, server)
  let messages = 0
  let last = 0
  for (let round = 0; round < 8; round++) {
    await Promise.all(apps.map(async (app) => await app.cache.clear()))
    messages += 3
    const gen = Number(await admin.get(GEN))
    t.ok(gen > last, `round ${round}: the clears moved the generation forward`)
    last = gen
    await delivered(apps, messages)
    // Let each instance's check against Redis settle: then all must write and read one namespace.
    await waitUntil('one generation', async () => {
      const [a, b, c] = apps as [FastifyInstance, FastifyInstance, FastifyInstance]
      await a.cache.set('k', round)
      messages++
      await delivered(apps, messages)
      return await b.cache.get('k') === round && await c.cache.get('k') === round
    }, 5000)
    const [a, b, c] = apps as [FastifyInstance, FastifyInstance, FastifyInstance]
    t.equal(await a.cache.get('k'), round)
    await b.cache.del('k')
    messages++
    await delivered(apps, messages)
    t.same([await a.cache.get('k'), await b.cache.get('k'), await c.cache.get('k')], [undefined, undefined, undefined], `round ${round}: a del on one is seen by all`)
  }
})

t.test('regression: a forged PUBLISH of an old generation brought cleared entries back', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: server.url })
  const admin = adminFor(t, server)
  await a.cache.set('k', 'before clear')
  await a.cache.clear()
  await delivered([a, b], 2)
  t.equal(await b.cache.get('k'), undefined)
  await a.cache.set('k', 'after clear')
  await delivered([a, b], 3)
  t.equal(await b.cache.get('k'), 'after clear')

  await admin.publish(CHANNEL, '{"i":"forger","g":"0"}')
  await delivered([a, b], 4)
  t.equal(await b.cache.get('k'), 'after clear', 'an older generation is ignored')
  t.equal(await a.cache.get('k'), 'after clear')
  t.equal(b.cache.stats().l1.entries, 1, 'and L1 was not even flushed for it')
})

t.test('regression: a forged PUBLISH of an invented generation moved one instance away from the others', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: server.url })
  const admin = adminFor(t, server)
  await a.cache.set('k', 1)
  await delivered([a, b], 1)
  t.equal(await b.cache.get('k'), 1)
  const gen = await admin.get(GEN)
  await admin.publish(CHANNEL, '{"i":"forger","g":"9999999999999999"}')
  await delivered([a, b], 2)
  // b read the generation from Redis (unchanged) and stayed on it.
  await waitUntil('b checked Redis', async () => await b.cache.get('k') === 1, 5000)
  await b.cache.set('k', 2)
  await delivered([a, b], 3)
  t.equal(await a.cache.get('k'), 2, 'a and b still share one namespace')
  t.equal(await admin.get(GEN), gen, 'nothing was written for the forged message')
})

t.test('a generation key that is not a number: L1 dropped, every read a miss, nothing adopted', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const admin = adminFor(t, server)
  await a.cache.set('k', 1)
  t.equal(a.cache.stats().l1.entries, 1)
  await admin.set(GEN, 'garbage')
  await admin.publish(CHANNEL, '{"i":"forger","g":"9999999999999999"}')
  await waitUntil('L1 dropped', () => a.cache.stats().l1.entries === 0, 5000)
  t.equal(await a.cache.get('k'), undefined)
  t.ok(a.cache.stats().decodeErrors >= 1)
  await admin.del(GEN)
  t.equal(await a.cache.get('k'), undefined, 'a missing generation is made anew from the clock, never an old one')
  await a.cache.set('k', 2)
  t.equal(await a.cache.get('k'), 2, 'and used once Redis holds a valid one')
})

t.test('a bus message whose generation is not a decimal INCR value is ignored', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const admin = adminFor(t, server)
  await a.cache.set('k', 1)
  for (const g of ['"01"', '"-1"', '"1e3"', '"99999999999999999999"']) await admin.publish(CHANNEL, `{"i":"x","g":${g}}`)
  await admin.publish(CHANNEL, `{"i":"x","k":${JSON.stringify(Array.from({ length: 1001 }, (_, i) => `k${i}`))}}`)
  await admin.publish(CHANNEL, '{"i":"x","k":[""]}')
  await admin.publish(CHANNEL, '{"i":"x","k":["unrelated"]}')
  await delivered([a], 2)
  t.equal(a.cache.stats().l1.entries, 1, 'only its own write and the valid message counted; L1 untouched')
})

// A value computed from the data before a clear() was written into the new generation, and every
// instance served it for its whole TTL: the clear (after a write, say) was lost for that key.
for (const where of ['another instance', 'this instance'] as const) {
  t.test(`a clear() on ${where} while wrap()'s fn computes: the value is returned, not stored`, async (t) => {
    const a = await cacheApp(t, { redis: server.url, l1: false })
    const b = await cacheApp(t, { redis: server.url, l1: false })
    let db = 'old price'
    let started = false
    let release = (): void => {}
    const computing = new Promise<void>((resolve) => { release = resolve })
    const pending = a.cache.wrap('price', async () => {
      const read = db
      started = true
      await computing
      return read
    })
    await waitUntil('fn runs', () => started)
    db = 'new price'
    if (where === 'another instance') {
      await b.cache.clear()
      await waitUntil('a heard the clear', () => a.cache.stats().bus.messages === 1, 5000)
    } else {
      await a.cache.clear()
    }
    release()
    t.equal(await pending, 'old price', 'the caller gets what it computed')
    t.equal(a.cache.stats().storeErrors, 1, 'counted as not stored')
    t.equal(await b.cache.wrap('price', () => db), 'new price')
    t.equal(await a.cache.get('price'), 'new price')
  })
}

t.test('a clear() while a cached route\'s handler runs: the response is sent, not stored', async (t) => {
  let db = 'old catalog'
  let started = false
  let release = (): void => {}
  let computing: Promise<void> = Promise.resolve()
  const a = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/catalog', { config: { cache: { ttl: '1m' } } }, async () => {
      const read = db
      started = true
      await computing
      return read
    })
  })
  computing = new Promise<void>((resolve) => { release = resolve })
  const slow = a.inject('/catalog')
  await waitUntil('the handler runs', () => started)
  db = 'new catalog'
  await a.cache.clear()
  release()
  t.same([(await slow).body, (await slow).headers['x-cache']], ['old catalog', 'miss'])
  computing = Promise.resolve()
  const next = await a.inject('/catalog')
  t.same([next.body, next.headers['x-cache']], ['new catalog', 'miss'], 'the old response was never stored')
})
