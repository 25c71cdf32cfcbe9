import t from 'tap'
import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// Route responses and the application's keys used to share one key space: a route's entry was the
// application key "route:<length-prefixed parts>", so an app that caches under a key a client
// chooses (`cache.get(request.query.q)`) let that client read another user's private page, or
// plant a page every user was then served.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

const part = (text: string): string => `${text.length}:${text}`
// What the route cache's key was for GET /me with key() = the user, as app.inject sends it.
const aliceKey = 'route:' + part('GET') + part('/me') + part('http') + part('localhost:80') + 'k' + part('alice')
const catalogKey = 'route:' + part('GET') + part('/catalog') + part('http') + part('localhost:80') + 'u' + part('/catalog')

/** A service with a private page, a shared page, and a lookup that caches under a client's key. */
async function service (t: Parameters<typeof cacheApp>[0], options: { l1?: boolean } = {}): Promise<FastifyInstance> {
  return await cacheApp(t, { redis: server.url, ...options }, (app) => {
    app.get('/me', { config: { cache: { ttl: '60s', scope: 'private', key: (request) => request.headers['x-user'] as string } } }, async (request) => `private page of ${String(request.headers['x-user'])}`)
    app.get('/catalog', { config: { cache: { ttl: '60s' } } }, async () => 'the real catalog')
    app.get('/lookup', async (request) => ({ found: await app.cache.get((request.query as { q: string }).q) ?? null }))
    app.post('/remember', async (request) => {
      const { q, value } = request.body as { q: string, value: unknown }
      await app.cache.set(q, value)
      return { ok: true }
    })
  })
}

for (const l1 of [true, false]) {
  t.test(`regression: an application key named a route-cache entry: a client read another user's cached page and poisoned a shared one (l1: ${String(l1)})`, async (t) => {
    const app = await service(t, { l1 })
    const alice = await app.inject({ url: '/me', headers: { cookie: 'sid=a', 'x-user': 'alice' } })
    t.same([alice.statusCode, alice.body, alice.headers['x-cache']], [200, 'private page of alice', 'miss'])
    t.equal((await app.inject('/catalog')).headers['x-cache'], 'miss')

    // Reading: the key the route cache used for alice's page, asked for by anyone.
    const read = await app.inject({ url: '/lookup', query: { q: aliceKey } })
    t.same([read.statusCode, read.json()], [200, { found: null }], 'an application key never names a route entry')

    // Writing: a forged response under the shared page's key.
    const etag = '"' + createHash('sha1').update('planted').digest('base64url') + '"'
    const planted = { b: 'planted', e: etag, h: [['content-type', 'text/html']] }
    t.equal((await app.inject({ method: 'POST', url: '/remember', payload: { q: catalogKey, value: planted } })).statusCode, 200)
    const catalog = await app.inject('/catalog')
    t.same([catalog.statusCode, catalog.body, catalog.headers['x-cache']], [200, 'the real catalog', 'hit'], 'every user still gets the real page')
    // And the application's key is its own, as any other key.
    t.same((await app.inject({ url: '/lookup', query: { q: catalogKey } })).json(), { found: planted })
    await app.cache.del(aliceKey)
    const again = await app.inject({ url: '/me', headers: { cookie: 'sid=a', 'x-user': 'alice' } })
    t.same([again.body, again.headers['x-cache']], ['private page of alice', 'hit'], 'del() of an application key leaves the route entry alone')

    // In Redis: the application's entry under e:, the route's under r:, never the one for the other.
    const admin = adminFor(t, server)
    const gen = await admin.get('scaleout:cache:json.v1:gen') as string
    t.same((await admin.keys(`scaleout:cache:json.v1:${gen}:e:*`)).sort(), [`scaleout:cache:json.v1:${gen}:e:${catalogKey}`])
    t.same((await admin.keys(`scaleout:cache:json.v1:${gen}:r:*`)).length, 2, 'alice\'s page and the catalog')
  })
}

t.test('an application key and a route entry of the same text are told apart on every other instance too', async (t) => {
  const a = await service(t)
  const b = await service(t)
  await waitUntil('both buses connected', () => a.cache.stats().bus.connected && b.cache.stats().bus.connected, 5000)
  // b keeps the catalog page in its L1.
  t.equal((await b.inject('/catalog')).headers['x-cache'], 'miss')
  await waitUntil('b\'s own message came back', async () => b.cache.stats().bus.messages === 1, 5000)
  t.equal((await b.inject('/catalog')).headers['x-cache'], 'hit')
  const l2 = b.cache.stats().l2.hits
  t.equal((await b.inject('/catalog')).headers['x-cache'], 'hit')
  t.equal(b.cache.stats().l2.hits, l2, 'served from b\'s L1')
  // a writes an application key spelled as the route's: b hears it, and keeps its route copy.
  await a.cache.set(catalogKey, 'app value')
  await waitUntil('b heard a\'s write', async () => b.cache.stats().bus.messages === 2, 5000)
  t.equal((await b.inject('/catalog')).headers['x-cache'], 'hit')
  t.equal(b.cache.stats().l2.hits, l2, 'still from L1: a message about an application key drops no route entry')
  t.equal(await b.cache.get(catalogKey), 'app value')
  // A message about the route entry (as an instance that stores it sends) does drop it.
  await adminFor(t, server).publish('scaleout:cache:json.v1:bus', JSON.stringify({ i: 'test', r: [catalogKey.slice('route:'.length)] }))
  await waitUntil('b heard it', async () => b.cache.stats().bus.messages === 3, 5000)
  const before = b.cache.stats().l2.hits
  t.equal((await b.inject('/catalog')).headers['x-cache'], 'hit')
  t.equal(b.cache.stats().l2.hits, before + 1, 'read from Redis again')
})
