import t from 'tap'
import { adminFor, redisFor } from '../helpers/index.js'
import { cacheApp, keyInGeneration } from './setup.js'

// A read of the generation sent right after a clear() on the same connection answers the clear's own
// generation after the clear's reply was adopted: the instance stays on it (never moves back, never
// twice) and the value set afterwards lands in that generation.
t.test('a generation read answering after clear() leaves the instance on the clear\'s generation', async (t) => {
  const server = await redisFor(t)
  const app = await cacheApp(t, { redis: server.url, l1: false })
  const [, missing] = await Promise.all([app.cache.clear(), app.cache.get('k')])
  t.equal(missing, undefined)
  await app.cache.set('k', 1)
  const admin = adminFor(t, server)
  t.equal(await admin.get(await keyInGeneration(admin, 'k')) !== null, true, 'the entry is in the generation Redis holds')
  t.equal(await app.cache.get('k'), 1)
})
