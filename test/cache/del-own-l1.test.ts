import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { adminFor, redisFor } from '../helpers/index.js'
import { cacheApp, keyInGeneration } from './setup.js'

// del() and invalidateTags() dropped the old value from their own instance's L1 before the DEL was
// sent. A read on that same instance that began after the drop could reach Redis before the DEL
// (reads go on a connection of their own) and put the old value back into L1, and an instance
// ignores its own messages: it served the deleted value until its TTL while every other instance
// missed. CLIENT PAUSE ... WRITE holds the DEL (a write) and lets the GET (a read) through, the
// order a busy instance can get by chance.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())
const admin = adminFor(t, server)

/** Holds every write sent to Redis until releaseWrites(); reads are answered. */
async function holdWrites (): Promise<void> {
  await admin.call('CLIENT', 'PAUSE', '10000', 'WRITE')
}

async function releaseWrites (): Promise<void> {
  await admin.call('CLIENT', 'UNPAUSE')
}

t.test('a get() on the deleting instance while its DEL is on its way leaves nothing in its L1', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: server.url })
  await a.cache.set('k', 'old')
  await holdWrites()
  const deleting = a.cache.del('k')
  t.equal(await a.cache.get('k'), 'old', 'the read reached Redis before the DEL')
  await releaseWrites()
  await deleting
  t.equal(await admin.exists(await keyInGeneration(admin, 'k')), 0, 'Redis no longer holds k')
  t.equal(a.cache.stats().l1.entries, 0, 'and neither does the L1 of the instance that deleted it')
  t.equal(await a.cache.get('k'), undefined)
  t.equal(await b.cache.get('k'), undefined)
})

t.test('a set() called while the DEL is on its way came after it: its value stays', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  await a.cache.set('k', 'old')
  await holdWrites()
  const calls = Promise.all([a.cache.del('k'), a.cache.set('k', 'new')])
  await new Promise((resolve) => setImmediate(resolve)) // both sent, and held
  await releaseWrites()
  await calls
  const raw = await admin.get(await keyInGeneration(admin, 'k'))
  t.equal(raw?.slice(raw.indexOf('\n') + 1), '"new"', 'the SET went after the DEL')
  t.equal(await a.cache.get('k'), 'new')
})

t.test('a get() on the invalidating instance while its tag DEL is on its way leaves nothing in its L1', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: server.url })
  await a.cache.set('k', 'old', { tags: ['T'] })
  await holdWrites()
  const invalidating = a.cache.invalidateTags(['T'])
  t.equal(await a.cache.get('k'), 'old', 'the read reached Redis before the tag DEL')
  await releaseWrites()
  await invalidating
  t.equal(a.cache.stats().l1.entries, 0)
  t.equal(await a.cache.get('k'), undefined)
  t.equal(await b.cache.get('k'), undefined)
})

// The README's write path, PUT then invalidateTags, on the instance that also serves the GETs.
t.test('route cache: a request during invalidateTags() on the same instance does not keep the old response', async (t) => {
  let version = 1
  const a = await cacheApp(t, { redis: server.url }, (app: FastifyInstance) => {
    app.get('/catalog', { config: { cache: { ttl: '60s', tags: ['catalog'] } } }, async () => `catalog v${version}`)
  })
  t.equal((await a.inject('/catalog')).body, 'catalog v1')
  version = 2
  await holdWrites()
  const invalidating = a.cache.invalidateTags(['catalog'])
  const during = await a.inject('/catalog')
  t.same([during.body, during.headers['x-cache']], ['catalog v1', 'hit'], 'read from Redis before the tag DEL')
  await releaseWrites()
  await invalidating
  const after = await a.inject('/catalog')
  t.same([after.body, after.headers['x-cache']], ['catalog v2', 'miss'])
  const next = await a.inject('/catalog')
  t.same([next.body, next.headers['x-cache']], ['catalog v2', 'hit'])
})
