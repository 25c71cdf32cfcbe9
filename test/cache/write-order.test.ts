import t from 'tap'
import { adminFor, redisFor } from '../helpers/index.js'
import { cacheApp, keyInGeneration } from './setup.js'

// A tagged set() takes its tag tokens (a round trip on another connection) before it sends its SET;
// an untagged set() or a del() sends at once. Two calls on one key from one instance reached Redis
// in the reverse order of the calls: Redis, and so every other instance, kept the value the caller
// had replaced (or the one it had deleted), while the calling instance's L1 served the last one.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())
const admin = adminFor(t, server)

/** The encoded value Redis holds for `key`, without the entry's header; null if none. */
async function stored (key: string): Promise<string | null> {
  const raw = await admin.get(await keyInGeneration(admin, key))
  return raw === null ? null : raw.slice(raw.indexOf('\n') + 1)
}

for (const l1 of [true, false]) {
  const options = { redis: server.url, ...(l1 ? {} : { l1: false as const }) }

  t.test(`set(k, v1, { tags }) then set(k, v2): Redis and every instance end with v2 (L1 ${l1 ? 'on' : 'off'})`, async (t) => {
    const a = await cacheApp(t, options)
    const b = await cacheApp(t, options)
    await a.cache.get('warm') // the generation is known: the untagged SET goes out at once
    await Promise.all([a.cache.set('k', 'v1', { tags: ['T'] }), a.cache.set('k', 'v2')])
    t.equal(await stored('k'), '"v2"', 'the later set wins in Redis')
    t.equal(await a.cache.get('k'), 'v2')
    t.equal(await b.cache.get('k'), 'v2')
    t.equal(a.cache.stats().storeErrors, 0, 'a write overtaken on its way is not an error')
  })

  t.test(`set(k, v, { tags }) then del(k): the delete wins (L1 ${l1 ? 'on' : 'off'})`, async (t) => {
    const a = await cacheApp(t, options)
    await a.cache.get('warm')
    await Promise.all([a.cache.set('k', 'v', { tags: ['T'] }), a.cache.del('k')])
    t.equal(await stored('k'), null, 'no entry left')
    t.equal(await a.cache.get('k'), undefined)
    t.equal(a.cache.stats().l1.entries, 0)
  })
}

// The other way round each call already reached Redis in order; it still must.
t.test('set(k, v1) then set(k, v2, { tags }), del(k) then set(k, v, { tags }): the later call wins', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: server.url })
  await a.cache.get('warm')
  await Promise.all([a.cache.set('k', 'v1'), a.cache.set('k', 'v2', { tags: ['T'] })])
  t.equal(await stored('k'), '"v2"')
  t.same([await a.cache.get('k'), await b.cache.get('k')], ['v2', 'v2'])
  await Promise.all([a.cache.del('k'), a.cache.set('k', 'v3', { tags: ['T'] })])
  t.equal(await stored('k'), '"v3"')
  t.same([await a.cache.get('k'), await b.cache.get('k')], ['v3', 'v3'])
})
