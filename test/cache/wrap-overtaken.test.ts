import t from 'tap'
import { Redis } from 'ioredis'
import cache from '@scaleout/cache'
import { adminFor, appFor, logSink, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp, keyInGeneration } from './setup.js'

// The cache-aside race: wrap() reads the database, the row changes and its writer calls del(), then
// wrap() stores what it read before the change. Every instance served the old row for its TTL.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

/** A wrap() whose fn reads `db.value` at once and returns it when `release()` is called. */
function slowWrap (cache: { wrap: <T>(key: string, fn: () => Promise<T>) => Promise<T> }, db: { value: string }): { pending: Promise<string>, started: () => boolean, release: () => void } {
  let started = false
  let release = (): void => {}
  const computing = new Promise<void>((resolve) => { release = resolve })
  const pending = cache.wrap('price', async () => {
    const read = db.value
    started = true
    await computing
    return read
  })
  return { pending, started: () => started, release }
}

for (const l1 of [true, false]) {
  for (const where of ['another instance', 'this instance'] as const) {
    t.test(`l1 ${String(l1)}: a del() on ${where} while wrap()'s fn computes: the value is returned, not stored`, async (t) => {
      const a = await cacheApp(t, { redis: server.url, l1 })
      const b = await cacheApp(t, { redis: server.url, l1 })
      const admin = adminFor(t, server)
      const db = { value: 'old price' }
      const wrap = slowWrap(a.cache, db)
      await waitUntil('fn runs', wrap.started)
      db.value = 'new price'
      if (where === 'another instance') {
        await b.cache.del('price')
        await waitUntil('a heard the del', () => a.cache.stats().bus.messages === 1, 5000)
      } else {
        await a.cache.del('price')
      }
      wrap.release()
      t.equal(await wrap.pending, 'old price', 'the caller gets what it computed')
      t.equal(a.cache.stats().storeErrors, 1, 'counted as not stored')
      t.equal(await admin.get(await keyInGeneration(admin, 'price')), null, 'nothing in Redis')
      t.equal(await b.cache.wrap('price', () => db.value), 'new price')
      t.equal(await a.cache.wrap('price', () => 'computed again'), 'new price')
    })
  }
}

t.test('a set() on another instance while wrap()\'s fn computes: the set value stays in Redis', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: server.url })
  const db = { value: 'old price' }
  const wrap = slowWrap(a.cache, db)
  await waitUntil('fn runs', wrap.started)
  await b.cache.set('price', 'set price')
  await waitUntil('a heard the set', () => a.cache.stats().bus.messages === 1, 5000)
  wrap.release()
  t.equal(await wrap.pending, 'old price')
  t.equal(a.cache.stats().storeErrors, 1)
  t.equal(await a.cache.get('price'), 'set price')
  t.equal(await b.cache.get('price'), 'set price')
})

t.test('a del() heard while the computed value is on its way to Redis: the value is deleted again', async (t) => {
  // A caller's client whose SET of the entry waits until another instance's del() is in and heard:
  // the del lands first, the old value after it, and only the take-back removes it.
  const client = new Redis(server.url, { lazyConnect: true })
  t.teardown(() => client.disconnect())
  const a = await cacheApp(t, { redis: client })
  const b = await cacheApp(t, { redis: server.url })
  const admin = adminFor(t, server)
  const set = client.set.bind(client) as (...args: unknown[]) => Promise<unknown>
  let held = 0
  ;(client as unknown as { set: (...args: unknown[]) => Promise<unknown> }).set = async (...args: unknown[]) => {
    // Only the entry's SET (the lease's SET NX goes through too).
    if (!String(args[0]).includes(':e:')) return await set(...args)
    held++
    await b.cache.del('price')
    // Its own invalidation (the PUBLISH sent beside this SET, which ran ahead) and b's del.
    await waitUntil('a heard the del', () => a.cache.stats().bus.messages === 2, 5000)
    return await set(...args)
  }
  const db = { value: 'old price' }
  const wrap = slowWrap(a.cache, db)
  await waitUntil('fn runs', wrap.started)
  db.value = 'new price'
  wrap.release()
  t.equal(await wrap.pending, 'old price')
  t.equal(held, 1, 'the entry\'s SET was held once')
  t.equal(a.cache.stats().storeErrors, 1, 'counted as not stored')
  t.equal(await admin.get(await keyInGeneration(admin, 'price')), null, 'taken back out of Redis')
  // Its own del, a's write and a's take-back.
  await waitUntil('b heard the take-back', () => b.cache.stats().bus.messages === 3, 5000)
  t.equal(await b.cache.wrap('price', () => db.value), 'new price')
})

t.test('the take-back refused by Redis: the value stays until its TTL, and the failure is counted', async (t) => {
  const admin = adminFor(t, server)
  // A real refusal: this client's ACL user may do everything but DEL.
  await admin.call('ACL', 'SETUSER', 'nodel', 'on', '>pw', '~*', '&*', '+@all', '-del')
  t.teardown(async () => { await admin.call('ACL', 'DELUSER', 'nodel') })
  const client = new Redis(`redis://nodel:pw@127.0.0.1:${server.port}`, { lazyConnect: true })
  t.teardown(() => client.disconnect())
  const sink = logSink('warn')
  const a = appFor(t, { logger: sink.logger })
  await a.register(cache, { redis: client, timeout: 3000, heartbeatInterval: false })
  await a.ready()
  const b = await cacheApp(t, { redis: server.url })
  const set = client.set.bind(client) as (...args: unknown[]) => Promise<unknown>
  ;(client as unknown as { set: (...args: unknown[]) => Promise<unknown> }).set = async (...args: unknown[]) => {
    if (!String(args[0]).includes(':e:')) return await set(...args)
    await b.cache.del('price')
    // Its own invalidation (the PUBLISH sent beside this SET, which ran ahead) and b's del.
    await waitUntil('a heard the del', () => a.cache.stats().bus.messages === 2, 5000)
    return await set(...args)
  }
  const wrap = slowWrap(a.cache, { value: 'old price' })
  await waitUntil('fn runs', wrap.started)
  wrap.release()
  t.equal(await wrap.pending, 'old price')
  const raw = await admin.get(await keyInGeneration(admin, 'price'))
  t.equal(raw?.slice(raw.indexOf('\n') + 1), '"old price"', 'still in Redis')
  t.same(sink.messages(40), ['@scaleout/cache: could not delete a value overtaken while it was written; it lasts until its TTL'])
  t.equal(sink.lines[0]?.key, 'price')
  // The take-back's DEL, and the lease's release (a script that DELs the lease key), which is not
  // waited for: counted once it is refused.
  await waitUntil('both refusals counted', () => a.cache.stats().redisErrors === 2, 5000)
  t.equal(a.cache.stats().redisErrors, 2)
})

t.test('the limit: a del() whose message comes only after the write finished is not seen', async (t) => {
  const client = new Redis(server.url, { lazyConnect: true })
  t.teardown(() => client.disconnect())
  const a = await cacheApp(t, { redis: client })
  const admin = adminFor(t, server)
  const set = client.set.bind(client) as (...args: unknown[]) => Promise<unknown>
  ;(client as unknown as { set: (...args: unknown[]) => Promise<unknown> }).set = async (...args: unknown[]) => {
    // The del lands in Redis first; its message is still on its way.
    if (String(args[0]).includes(':e:')) await admin.del(String(args[0]))
    return await set(...args)
  }
  const wrap = slowWrap(a.cache, { value: 'old price' })
  await waitUntil('fn runs', wrap.started)
  wrap.release()
  t.equal(await wrap.pending, 'old price')
  await admin.publish('scaleout:cache:json.v1:bus', JSON.stringify({ i: 'another', k: ['price'] }))
  await waitUntil('a heard it', () => a.cache.stats().bus.messages === 2, 5000)
  t.equal(a.cache.stats().storeErrors, 0)
  const raw = await admin.get(await keyInGeneration(admin, 'price'))
  t.equal(raw?.slice(raw.indexOf('\n') + 1), '"old price"', 'the old value stays until its TTL')
})
