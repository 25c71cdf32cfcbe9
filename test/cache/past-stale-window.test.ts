import t from 'tap'
import { adminFor, redisFor } from '../helpers/index.js'
import { cacheApp, keyInGeneration } from './setup.js'

// An entry still in Redis after its stale window ended (written by an instance whose clock is
// behind, or kept a moment longer because Redis's PX is counted from when the SET went out, after
// the tag tokens were read) was served by wrap() as a stale value, and refreshed in the background:
// with staleTtl 0, a value past its ttl was returned, and with a stale window, one past it. Such an
// entry is now a miss: wrap() computes, and its value replaces the old one.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

for (const l1 of [true, false]) {
  t.test(`regression (L1 ${l1 ? 'on' : 'off'}): wrap served an entry past its stale window as stale`, async (t) => {
    const admin = adminFor(t, server)
    const app = await cacheApp(t, { redis: server.url, l1 })
    t.equal(await app.cache.get('warm'), undefined, 'the generation is made')
    const now = Date.now()
    // What an instance 10 s behind writes with ttl 2 s and staleTtl 1 s: Redis keeps it 3 s from now.
    await admin.set(await keyInGeneration(admin, 'k'), `[${now - 8000},${now - 7000}]\n"old"`, 'PX', 3000)
    let calls = 0
    t.equal(await app.cache.wrap('k', () => { calls++; return 'new' }), 'new')
    t.equal(calls, 1)
    const stats = app.cache.stats()
    t.equal(stats.staleServed, 0)
    t.same(stats.l2, { hits: 0, misses: 2 })
    t.equal(await app.cache.get('k'), 'new')
  })
}
