import t from 'tap'
import { gunzipSync, gzipSync } from 'node:zlib'
import cache from '@scaleout/cache'
import { adminFor, appFor, redisFor, sleep } from '../helpers/index.js'
import { cacheApp } from './setup.js'

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

t.test('regression: a response built for Host: evil.example was served to other hosts', async (t) => {
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/links', { config: { cache: { ttl: '60s' } } }, async (request) => `<a href="http://${request.host}/next">`)
  })
  t.equal((await app.inject({ url: '/links', headers: { host: 'evil.example' } })).body, '<a href="http://evil.example/next">')
  const good = await app.inject({ url: '/links', headers: { host: 'shop.example' } })
  t.same([good.body, good.headers['x-cache']], ['<a href="http://shop.example/next">', 'miss'])
  t.equal((await app.inject({ url: '/links', headers: { host: 'shop.example' } })).headers['x-cache'], 'hit')
})

t.test('regression: a custom key answered /products/7 with /users/7\'s body (keys are scoped by method and route)', async (t) => {
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    const config = { cache: { ttl: '60s', key: (request: { params: unknown }) => (request.params as { id: string }).id } }
    app.get('/users/:id', { config }, async (request) => `user ${(request.params as { id: string }).id}`)
    app.get('/products/:id', { config }, async (request) => `product ${(request.params as { id: string }).id}`)
    app.get('/other', { config: { cache: { ttl: '60s', key: () => '/plain' } } }, async () => 'other')
    app.get('/plain', { config: { cache: { ttl: '60s' } } }, async () => 'plain')
  })
  t.equal((await app.inject('/users/7')).body, 'user 7')
  t.equal((await app.inject('/users/7?x=1')).headers['x-cache'], 'hit', 'the custom key replaces the URL')
  const product = await app.inject('/products/7')
  t.same([product.body, product.headers['x-cache']], ['product 7', 'miss'])
  t.equal((await app.inject('/other')).body, 'other')
  t.equal((await app.inject('/plain')).body, 'plain', 'a custom key never meets another route\'s default key')
})

t.test('regression: an absent vary header and an empty one shared a key (keys are encoded injectively)', async (t) => {
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/flag', { config: { cache: { ttl: '60s', vary: ['x-flag', 'x-list'] } } }, async (request) => `flag ${JSON.stringify(request.headers['x-flag'])}`)
    app.get('/k', { config: { cache: { ttl: '60s', key: (request) => (request.query as { q?: string }).q } } }, async (request) => `q ${String((request.query as { q?: string }).q)}`)
  })
  t.equal((await app.inject('/flag')).body, 'flag undefined')
  const empty = await app.inject({ url: '/flag', headers: { 'x-flag': '' } })
  t.same([empty.body, empty.headers['x-cache']], ['flag ""', 'miss'])
  t.equal((await app.inject({ url: '/flag', headers: { 'x-flag': '' } })).headers['x-cache'], 'hit')
  t.equal((await app.inject('/k')).headers['x-cache'], 'bypass', 'key() returning undefined leaves the request uncached')
  t.equal((await app.inject('/k?q=1')).body, 'q 1')
  t.equal((await app.inject('/k?q=1')).headers['x-cache'], 'hit')
})

t.test('regression: a hit lost Content-Encoding, CORS headers and Content-Disposition (response headers replay exactly)', async (t) => {
  let calls = 0
  const body = JSON.stringify({ report: 'x'.repeat(200) })
  const gzipped = gzipSync(body)
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/report', { config: { cache: { ttl: '60s', vary: ['accept-encoding'] } } }, async (_request, reply) => {
      calls++
      reply.header('content-type', 'application/json')
      reply.header('content-encoding', 'gzip')
      reply.header('access-control-allow-origin', 'https://app.example')
      reply.header('access-control-expose-headers', 'x-total')
      reply.header('content-disposition', 'attachment; filename="report.json"')
      reply.header('x-total', 5)
      reply.header('link', ['</a>; rel="next"', '</b>; rel="last"'])
      reply.header('keep-alive', 'timeout=5')
      return await reply.send(gzipped)
    })
  })
  const miss = await app.inject({ url: '/report', headers: { 'accept-encoding': 'gzip' } })
  const hit = await app.inject({ url: '/report', headers: { 'accept-encoding': 'gzip' } })
  t.equal(hit.headers['x-cache'], 'hit')
  t.equal(calls, 1)
  t.equal(gunzipSync(hit.rawPayload).toString(), body)
  for (const name of ['content-type', 'content-encoding', 'access-control-allow-origin', 'access-control-expose-headers', 'content-disposition', 'x-total', 'link', 'vary', 'etag', 'content-length']) {
    t.same(hit.headers[name], miss.headers[name], name)
  }
  t.equal(hit.headers['content-encoding'], 'gzip')
  t.same(hit.headers.link, ['</a>; rel="next"', '</b>; rel="last"'])
  t.equal(hit.headers['keep-alive'], undefined, 'hop-by-hop headers are not stored')
})

t.test('headers the handler lists in Connection are hop-by-hop too, and never stored', async (t) => {
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/hop', { config: { cache: { ttl: '60s' } } }, async (_request, reply) => {
      reply.header('connection', 'x-hop')
      reply.header('x-hop', 'one connection only')
      reply.header('x-kept', 'kept')
      return 'hop'
    })
  })
  await app.inject('/hop')
  const hit = await app.inject('/hop')
  t.same([hit.headers['x-cache'], hit.headers['x-hop'], hit.headers['x-kept']], ['hit', undefined, 'kept'])
})

t.test('regression: each distinct query string was stored with no bound (maxEntries per route)', async (t) => {
  let calls = 0
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/search', { config: { cache: { ttl: '60s', maxEntries: 2, tags: ['search'] } } }, async () => `result ${++calls}`)
    app.get('/other', { config: { cache: { ttl: '60s', maxEntries: 1 } } }, async () => 'other')
  })
  const admin = adminFor(t, server)
  for (const q of ['a', 'b', 'c', 'd']) t.equal((await app.inject(`/search?q=${q}`)).statusCode, 200)
  t.equal(calls, 4)
  t.equal((await admin.keys('*:r:*')).length, 2, 'two responses stored, the others served uncached')
  t.equal((await app.inject('/search?q=a')).headers['x-cache'], 'hit')
  const over = await app.inject('/search?q=c')
  t.same([over.statusCode, over.body, over.headers['x-cache']], [200, 'result 5', 'miss'], 'over the bound: served, not an error')
  t.equal((await app.inject('/search?q=c')).body, 'result 6')
  t.equal((await app.inject('/other')).headers['x-cache'], 'miss', 'each route has its own bound')
  t.equal((await app.inject('/other')).headers['x-cache'], 'hit')

  // A stored response may be written again (after an invalidation) while the route is full.
  await app.cache.invalidateTags(['search'])
  t.equal((await app.inject('/search?q=a')).headers['x-cache'], 'miss')
  t.equal((await app.inject('/search?q=a')).headers['x-cache'], 'hit')
  t.equal((await app.inject('/search?q=d')).body, 'result 8', 'still full for new keys')
  await app.cache.clear()
  t.equal((await app.inject('/search?q=d')).headers['x-cache'], 'miss')
  t.equal((await app.inject('/search?q=d')).headers['x-cache'], 'hit', 'a new generation starts with an empty count')
})

// A route entry was written with the plugin's staleTtl added to its Redis lifetime (PX = ttl +
// staleTtl), while maxEntries counted it only for ttl. A route never serves a stale response: once
// a batch's ttl was over the bound admitted the next while the old ones still sat in Redis, so a
// client could make a route store maxEntries x (1 + staleTtl / ttl) responses.
t.test('regression: with the plugin\'s staleTtl, a route stored more responses in Redis than its maxEntries', async (t) => {
  // The README's Register example sets staleTtl: '1m'.
  const app = await cacheApp(t, { redis: server.url, staleTtl: '1m' }, (app) => {
    app.get('/search', { config: { cache: { ttl: '1s', maxEntries: 3 } } }, async (request) => `results for ${request.url}`)
  })
  const admin = adminFor(t, server)
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 3; i++) t.equal((await app.inject(`/search?q=${round}-${i}`)).headers['x-cache'], 'miss')
    await sleep(1100)
  }
  for (let i = 0; i < 3; i++) t.equal((await app.inject(`/search?q=2-${i}`)).headers['x-cache'], 'miss')
  const entries = await admin.keys('*:r:*')
  t.equal(entries.length, 3, 'only the last round\'s responses: the earlier ones left Redis with their count')
  const [counted] = await admin.keys('*:n:*') as [string]
  for (const entry of entries) {
    const raw = await admin.get(entry) as string
    const [expiresAt, staleUntil] = JSON.parse(raw.slice(0, raw.indexOf('\n'))) as [number, number]
    t.equal(staleUntil, expiresAt, 'no stale window')
    const pttl = await admin.pttl(entry)
    t.ok(pttl > 0 && pttl <= 1000, `lives no longer than the route's ttl: PTTL ${pttl}`)
    // The count lets a response go when its entry goes.
    t.equal(Number(await admin.zscore(counted, entry.slice(entry.indexOf(':r:') + 1))), expiresAt)
  }
})

t.test('regression: two routes of one pattern told apart by constraints shared entries (the scope holds the constraints)', async (t) => {
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/api', { constraints: { version: '1.0.0' }, config: { cache: { ttl: '60s' } } }, async () => 'v1 body')
    app.get('/api', { constraints: { version: '2.0.0' }, config: { cache: { ttl: '60s' } } }, async () => 'v2 body')
    app.get('/site', { constraints: { host: /^a\./ }, config: { cache: { ttl: '60s', key: () => 'same' } } }, async () => 'site a')
    app.get('/site', { constraints: { host: /^b\./ }, config: { cache: { ttl: '60s', key: () => 'same' } } }, async () => 'site b')
  })
  const answer = async (url: string, headers: Record<string, string>): Promise<[string, unknown]> => {
    const res = await app.inject({ url, headers })
    return [res.body, res.headers['x-cache']]
  }
  t.same(await answer('/api', { 'accept-version': '1.x' }), ['v1 body', 'miss'])
  t.same(await answer('/api', { 'accept-version': '2.x' }), ['v2 body', 'miss'])
  t.same(await answer('/api', { 'accept-version': '1.x' }), ['v1 body', 'hit'])
  t.same(await answer('/api', { 'accept-version': '2.x' }), ['v2 body', 'hit'])
  t.same(await answer('/site', { host: 'a.example' }), ['site a', 'miss'])
  t.same(await answer('/site', { host: 'b.example' }), ['site b', 'miss'])
  t.same(await answer('/site', { host: 'b.example' }), ['site b', 'hit'])
  // A constraint of the app's own whose values are not text: a tier number from a header.
  const tiered = await cacheApp(t, { redis: server.url }, (app) => {
    const tiers = new Map<unknown, unknown>()
    app.addConstraintStrategy({
      name: 'tier',
      storage: () => ({ get: (tier: unknown) => tiers.get(tier) ?? null, set: (tier: unknown, store: unknown) => { tiers.set(tier, store) } }),
      deriveConstraint: (request: { headers: Record<string, unknown> }) => Number(request.headers['x-tier']),
      mustMatchWhenDerived: true
    } as unknown as Parameters<typeof app.addConstraintStrategy>[0])
    app.get('/tiered', { constraints: { tier: 1 }, config: { cache: { ttl: '60s' } } }, async () => 'tier 1')
    app.get('/tiered', { constraints: { tier: 2 }, config: { cache: { ttl: '60s' } } }, async () => 'tier 2')
  })
  const tier = async (n: string): Promise<[string, unknown]> => {
    const res = await tiered.inject({ url: '/tiered', headers: { 'x-tier': n } })
    return [res.body, res.headers['x-cache']]
  }
  t.same([await tier('1'), await tier('2'), await tier('2')], [['tier 1', 'miss'], ['tier 2', 'miss'], ['tier 2', 'hit']])
})

t.test('a key() that returns neither text nor a number is a coded 500, never a key shared by everyone', async (t) => {
  const returned: Record<string, unknown> = { object: { id: 'alice' }, array: ['alice'], empty: '', nan: Number.NaN, boolean: true }
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/page/:kind', { config: { cache: { ttl: '60s', scope: 'private', key: (request) => returned[(request.params as { kind: string }).kind] as string } } }, async () => 'private page')
    app.get('/number', { config: { cache: { ttl: '60s', key: () => 42 as unknown as string } } }, async () => 'numbered')
  })
  const expected: Record<string, string> = { object: 'an object', array: 'an array', empty: 'an empty string', nan: 'NaN', boolean: 'a boolean' }
  for (const [kind, what] of Object.entries(expected)) {
    const res = await app.inject({ url: `/page/${kind}`, headers: { cookie: 'sid=alice' } })
    t.same([res.statusCode, res.json()], [500, {
      statusCode: 500,
      code: 'SCALEOUT_ERR_CACHE_OPTION',
      error: 'Internal Server Error',
      message: `@scaleout/cache: config.cache.key() of GET /page/:kind is invalid: expected a non-empty string with no lone surrogate or a finite number (or undefined or null to leave the request uncached), got ${what}`
    }], kind)
  }
  t.same(await adminFor(t, server).keys('*:r:*'), [], 'nothing stored')
  t.equal((await app.inject('/number')).headers['x-cache'], 'miss')
  t.equal((await app.inject('/number')).headers['x-cache'], 'hit', 'a finite number is a key')
})

t.test('the protocol scopes the key: a page built for http is never served over https', async (t) => {
  const app = appFor(t, { trustProxy: true })
  await app.register(cache, { redis: server.url, timeout: 3000, heartbeatInterval: false })
  app.get('/links', { config: { cache: { ttl: '60s' } } }, async (request) => `<a href="${request.protocol}://shop.example/next">`)
  await app.ready()
  const plain = { host: 'shop.example' }
  const tls = { host: 'shop.example', 'x-forwarded-proto': 'https' }
  t.equal((await app.inject({ url: '/links', headers: plain })).body, '<a href="http://shop.example/next">')
  const secure = await app.inject({ url: '/links', headers: tls })
  t.same([secure.body, secure.headers['x-cache']], ['<a href="https://shop.example/next">', 'miss'])
  t.equal((await app.inject({ url: '/links', headers: tls })).headers['x-cache'], 'hit')
  t.equal((await app.inject({ url: '/links', headers: plain })).body, '<a href="http://shop.example/next">')
})

t.test('a key over 512 characters is stored under its SHA-256', async (t) => {
  const admin = adminFor(t, server)
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/long/*', { config: { cache: { ttl: '60s' } } }, async () => 'long')
  })
  await app.inject('/long/' + 'x'.repeat(600))
  const entries = (await admin.keys('scaleout:cache:json.v1:*:r:*')).map((key) => key.slice(key.indexOf(':r:') + 3))
  t.equal(entries.length, 1)
  t.match(entries[0], /^h:[A-Za-z0-9_-]{43}$/, 'a fixed-length digest, not the URL')
  t.equal((await app.inject('/long/' + 'x'.repeat(600))).headers['x-cache'], 'hit')
  t.equal((await app.inject('/long/' + 'x'.repeat(599) + 'y')).headers['x-cache'], 'miss', 'another long URL, another digest')
})
