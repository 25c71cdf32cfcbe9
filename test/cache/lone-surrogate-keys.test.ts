import t from 'tap'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// A JavaScript string may hold a lone surrogate (JSON.parse of "\ud800" makes one), which has no
// UTF-8 form: on its way to Redis it becomes U+FFFD. So 'a\uD800' and 'a\uFFFD', two different
// keys, were one entry in Redis, and two different tags one token: a client could read or
// overwrite another key's value, or another user's cached private page, and an instance's L1
// (where the two stay apart) kept a value that a set, del or invalidateTags of the other spelling
// had replaced in Redis. Keys, tags and a route's key() must be valid Unicode now.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())
const LONE = ['a\uD800', '\uDC00b', 'x\uDBFF\uDBFFy', '\uDFFF\uD800']

t.test('regression: a key or tag with a lone surrogate shared its Redis entry with the one spelt with U+FFFD', async (t) => {
  const admin = adminFor(t, server)
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: server.url })
  await b.cache.set('a\uFFFD', 'b\'s value', { tags: ['t\uFFFD'] })
  const code = { code: 'SCALEOUT_ERR_CACHE_KEY', message: '@scaleout/cache: key must be a non-empty string of at most 1024 characters, with no lone surrogate' }
  for (const key of LONE) {
    await t.rejects(a.cache.get(key), code, key)
    await t.rejects(a.cache.set(key, 'a\'s value'), code, key)
    await t.rejects(a.cache.del(key), code, key)
    await t.rejects(a.cache.wrap(key, () => 'computed'), code, key)
    await t.rejects(a.cache.set('k', 1, { tags: [key] }), { code: 'SCALEOUT_ERR_CACHE_KEY', message: /a tag must be .*, with no lone surrogate/ }, key)
    await t.rejects(a.cache.wrap('k', () => 1, { tags: [key] }), { code: 'SCALEOUT_ERR_CACHE_KEY' }, key)
    await t.rejects(a.cache.invalidateTags([key]), { code: 'SCALEOUT_ERR_CACHE_KEY' }, key)
  }
  t.equal(await b.cache.get('a\uFFFD'), 'b\'s value', 'neither read, overwritten nor deleted through another spelling')
  t.equal(a.cache.stats().computed, 0)
  t.equal((await admin.keys('scaleout:cache:json.v1:*:e:*')).length, 1, 'b\'s entry only')
  t.same(await admin.keys('scaleout:cache:json.v1:t:*'), ['scaleout:cache:json.v1:t:t\uFFFD'])

  // A surrogate pair is one character like any other.
  await a.cache.set('ok\uD83D\uDE00', 'pair', { tags: ['\uD83D\uDE00'] })
  t.equal(await b.cache.get('ok\uD83D\uDE00'), 'pair')
  await b.cache.invalidateTags(['\uD83D\uDE00'])
  await waitUntil('a heard the invalidation', () => a.cache.stats().bus.messages === 3, 5000)
  t.equal(await a.cache.get('ok\uD83D\uDE00'), undefined)
})

t.test('regression: a route key() with a lone surrogate was served the page cached for the user spelt with U+FFFD', async (t) => {
  const admin = adminFor(t, server)
  // Stands in for a user id from a token: JSON, so it may hold a lone surrogate.
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/me', { config: { cache: { ttl: '60s', scope: 'private', key: (request) => JSON.parse((request.query as { user: string }).user) as string } } },
      async (request) => `page of ${JSON.stringify(JSON.parse((request.query as { user: string }).user))}`)
  })
  const as = async (user: string): Promise<{ statusCode: number, body: string, cache: unknown }> => {
    const res = await app.inject({ url: '/me?user=' + encodeURIComponent(JSON.stringify(user)), headers: { cookie: 'sid=1' } })
    return { statusCode: res.statusCode, body: res.body, cache: res.headers['x-cache'] }
  }
  t.same(await as('bob\uFFFD'), { statusCode: 200, body: 'page of "bob\uFFFD"', cache: 'miss' })
  t.same(await as('bob\uFFFD'), { statusCode: 200, body: 'page of "bob\uFFFD"', cache: 'hit' })
  // 'bob\uD800' reached Redis as 'bob\uFFFD': that user was served bob\uFFFD's page.
  for (const user of ['bob\uD800', ...LONE.map((s) => 'bob' + s)]) {
    const res = await app.inject({ url: '/me?user=' + encodeURIComponent(JSON.stringify(user)), headers: { cookie: 'sid=2' } })
    t.same([res.statusCode, res.statusCode === 500 ? res.json() : res.body], [500, {
      statusCode: 500,
      code: 'SCALEOUT_ERR_CACHE_OPTION',
      error: 'Internal Server Error',
      message: '@scaleout/cache: config.cache.key() of GET /me is invalid: expected a non-empty string with no lone surrogate or a finite number (or undefined or null to leave the request uncached), got a string with a lone surrogate'
    }], JSON.stringify(user))
  }
  t.equal((await admin.keys('scaleout:cache:json.v1:*:r:*')).length, 1, 'bob\uFFFD\'s page only')
})
