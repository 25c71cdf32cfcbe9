import t from 'tap'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp, keyInGeneration } from './setup.js'

// A del() or invalidateTags() whose DEL timed out (a paused Redis) rejected before its message was
// sent, but the DEL, already on its way, ran once Redis came back: Redis no longer held the value,
// and every other instance went on serving it from L1 until its TTL, nothing telling them.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())
t.afterEach(() => server.resume())
const admin = adminFor(t, server)

t.test('regression: a del() that timed out but landed left the old value in the other instances\' L1', async (t) => {
  const a = await cacheApp(t, { redis: server.url, timeout: 300 })
  const b = await cacheApp(t, { redis: server.url, timeout: 300 })
  await a.cache.set('k', 'old')
  t.equal(await b.cache.get('k'), 'old')
  const entry = await keyInGeneration(admin, 'k')
  server.pause()
  await t.rejects(a.cache.del('k'), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', statusCode: 503 })
  server.resume()
  await waitUntil('the DEL ran', async () => await admin.exists(entry) === 0, 5000)
  await waitUntil('b dropped k', async () => await b.cache.get('k') === undefined, 5000)
  t.equal(await a.cache.get('k'), undefined)
})

t.test('regression: an invalidateTags() that timed out but landed left tagged values in the other instances\' L1', async (t) => {
  const a = await cacheApp(t, { redis: server.url, timeout: 300 })
  const b = await cacheApp(t, { redis: server.url, timeout: 300 })
  await a.cache.set('k', 'old', { tags: ['T'] })
  t.equal(await b.cache.get('k'), 'old')
  server.pause()
  await t.rejects(a.cache.invalidateTags(['T']), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', statusCode: 503 })
  server.resume()
  await waitUntil('the tag DEL ran', async () => await admin.exists('scaleout:cache:json.v1:t:T') === 0, 5000)
  await waitUntil('b dropped k', async () => await b.cache.get('k') === undefined, 5000)
  t.equal(await a.cache.get('k'), undefined)
})
