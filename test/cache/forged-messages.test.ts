import t from 'tap'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// What whoever can PUBLISH on the invalidation channel can do (see Security notes in the README):
// flush every instance's L1 as often as they publish, and no more. Forged messages of every kind
// (a generation far ahead, keys, tags, another instance's id) never make an instance serve a value
// Redis does not hold, nor move it to another namespace; L1 stays within its bounds while they
// flow, and fills again once they stop.

const CHANNEL = 'scaleout:cache:json.v1:bus'
const GEN_KEY = 'scaleout:cache:json.v1:gen'

t.test('a flood of forged invalidations: flushes only, within L1\'s bounds, and L1 fills again after it', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const a = await cacheApp(t, { redis: server.url, l1: { maxEntries: 5 } })
  const b = await cacheApp(t, { redis: server.url, l1: false })
  for (let i = 0; i < 10; i++) await a.cache.set(`k${i}`, `v${i}`, { tags: ['all'] })
  t.equal(a.cache.stats().l1.entries, 5, 'L1 holds its bound')
  const gen = await admin.get(GEN_KEY)

  const forged = [
    JSON.stringify({ i: 'forged', g: '9999999999999999999' }),
    JSON.stringify({ i: 'forged', g: '1' }),
    JSON.stringify({ i: 'forged', k: Array.from({ length: 1000 }, (_, i) => `k${i}`) }),
    JSON.stringify({ i: 'forged', t: ['all'] }),
    JSON.stringify({ i: 'forged', r: ['x'] })
  ]
  const before = a.cache.stats().bus.messages
  const rounds = 200
  const state = { flowing: true }
  const flood = (async () => {
    for (let n = 0; n < rounds; n++) await Promise.all(forged.map(async (m) => await admin.publish(CHANNEL, m)))
    state.flowing = false
  })()
  // Reads while the flood flows: each must give what Redis holds.
  let reads = 0
  let wrong = 0
  let over = 0
  while (state.flowing) {
    const i = reads++ % 10
    if (await a.cache.get(`k${i}`) !== `v${i}`) wrong++
    if (await a.cache.wrap(`k${i}`, () => 'computed') !== `v${i}`) wrong++
    if (a.cache.stats().l1.entries > 5) over++
  }
  await flood
  t.ok(reads > 10, 'reads ran while the flood flowed')
  t.equal(wrong, 0, 'every read gave what Redis holds')
  t.equal(over, 0, 'L1 stayed within maxEntries')
  await waitUntil('every forged message heard', () => a.cache.stats().bus.messages === before + rounds * forged.length, 10_000)
  t.equal(a.cache.stats().bus.rejected, 0, 'each had the shape of an invalidation')
  t.equal(await admin.get(GEN_KEY), gen, 'Redis\'s generation did not move')

  // Once the flood stops, L1 fills and serves again, in the namespace every instance uses.
  t.equal(await a.cache.get('k1'), 'v1')
  const hits = a.cache.stats().l1.hits
  t.equal(await a.cache.get('k1'), 'v1')
  t.equal(a.cache.stats().l1.hits, hits + 1, 'served from L1 again')
  await a.cache.set('k1', 'from a')
  t.equal(await b.cache.get('k1'), 'from a', 'a writes where b reads')
  await b.cache.set('k2', 'from b')
  await waitUntil('a heard b', async () => await a.cache.get('k2') === 'from b', 5000)
})
