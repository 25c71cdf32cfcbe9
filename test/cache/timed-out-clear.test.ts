import t from 'tap'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// A clear() whose script timed out (a paused Redis) rejected before its message was sent, and
// before its own instance moved: the script, already on its way, ran once Redis was back. Redis
// held the new generation, but every running instance, the caller included, stayed in the old
// namespace and served what the clear() had removed; an instance started later used the new one.

const server = await redisFor(t)
t.afterEach(() => server.resume())
const admin = adminFor(t, server)
const GEN = 'scaleout:cache:json.v1:gen'

t.test('regression: a clear() that timed out but landed left every instance in the old namespace', async (t) => {
  const a = await cacheApp(t, { redis: server.url, timeout: 300 })
  const b = await cacheApp(t, { redis: server.url, timeout: 300 })
  await a.cache.set('k', 'old')
  t.equal(await b.cache.get('k'), 'old')
  const before = await admin.get(GEN)
  server.pause()
  await t.rejects(a.cache.clear(), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', statusCode: 503 })
  server.resume()
  await waitUntil('the generation moved', async () => await admin.get(GEN) !== before, 5000)
  await waitUntil('a left the cleared namespace', async () => await a.cache.get('k') === undefined, 5000)
  await waitUntil('b left the cleared namespace', async () => await b.cache.get('k') === undefined, 5000)
  await a.cache.set('k', 'new')
  await waitUntil('b sees what a writes', async () => await b.cache.get('k') === 'new', 5000)
})
