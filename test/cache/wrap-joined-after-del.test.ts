import t from 'tap'
import { redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// A wrap() called after a del() (or a set, or another instance's change) of its key had reached
// this instance joined the wrap() of that key already computing, begun before the change, and got
// its value: the data the del() was there to remove, read from the database before the update, in
// a request that came after the write had been answered. Likewise after an invalidateTags().

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

for (const l1 of [true, false]) {
  for (const where of ['this instance', 'another instance', 'invalidateTags'] as const) {
    t.test(`regression (l1 ${String(l1)}): a wrap() called after a del() (${where}) joined a computation begun before it`, async (t) => {
      const a = await cacheApp(t, { redis: server.url, l1 })
      const b = await cacheApp(t, { redis: server.url, l1 })
      const db = { value: 'old price' }
      let release = (): void => {}
      const computing = new Promise<void>((resolve) => { release = resolve })
      const first = a.cache.wrap('price', async () => {
        const read = db.value
        await computing
        return read
      }, { tags: ['prices'] })
      await waitUntil('fn runs', () => a.cache.stats().computed === 1)
      db.value = 'new price'
      if (where === 'this instance') {
        await a.cache.del('price')
      } else if (where === 'invalidateTags') {
        await a.cache.invalidateTags(['prices'])
      } else {
        await b.cache.del('price')
        await waitUntil('a heard the del', () => a.cache.stats().bus.messages === 1, 5000)
      }
      const second = a.cache.wrap('price', async () => db.value)
      release()
      t.equal(await first, 'old price', 'called before the del: what it computed')
      t.equal(await second, 'new price', 'called after the del: not the old computation')
      t.equal(await a.cache.wrap('price', () => 'computed again'), 'new price')
    })
  }
}
