import t from 'tap'
import { createHash } from 'node:crypto'
import cache from '@scaleout/cache'
import type { FastifyInstance } from 'fastify'
import { adminFor, appFor, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

const etagOf = (body: string | Buffer): string => '"' + createHash('sha1').update(body).digest('base64url') + '"'

t.test('GET 200 responses are cached with a content ETag, Cache-Control and a 304 on If-None-Match', async (t) => {
  let calls = 0
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/items/:id', { config: { cache: { ttl: '60s' } } }, async (request) => ({ id: (request.params as { id: string }).id, n: ++calls }))
  })
  const first = await app.inject('/items/1?x=1')
  t.equal(first.statusCode, 200)
  t.equal(first.body, '{"id":"1","n":1}')
  const etag = etagOf('{"id":"1","n":1}')
  t.equal(first.headers.etag, etag)
  t.equal(first.headers['cache-control'], 'public, max-age=60')
  t.equal(first.headers['x-cache'], 'miss')
  t.equal(first.headers.vary, undefined)

  const second = await app.inject('/items/1?x=1')
  t.equal(second.statusCode, 200)
  t.equal(second.body, '{"id":"1","n":1}')
  t.equal(second.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(second.headers.etag, etag)
  t.match(second.headers['cache-control'], /^public, max-age=(59|60)$/)
  t.equal(second.headers['x-cache'], 'hit')
  t.equal(calls, 1)

  const other = await app.inject('/items/1?x=2')
  t.equal(other.body, '{"id":"1","n":2}', 'the query string is part of the key')

  for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, '*']) {
    const notModified = await app.inject({ url: '/items/1?x=1', headers: { 'if-none-match': inm } })
    t.equal(notModified.statusCode, 304, inm)
    t.equal(notModified.body, '')
    t.equal(notModified.headers.etag, etag)
  }
  const changed = await app.inject({ url: '/items/1?x=1', headers: { 'if-none-match': '"old"' } })
  t.equal(changed.statusCode, 200)
  t.equal(calls, 2)
})

t.test('a miss answers If-None-Match with 304 too when the fresh content matches', async (t) => {
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/stable', { config: { cache: { ttl: '60s' } } }, async () => 'same')
  })
  const res = await app.inject({ url: '/stable', headers: { 'if-none-match': etagOf('same') } })
  t.equal(res.statusCode, 304)
  t.equal(res.body, '')
  t.equal(res.headers['x-cache'], 'miss')
  t.equal((await app.inject('/stable')).headers['x-cache'], 'hit', 'and it was stored')
})

t.test('custom key, Vary headers, private scope and tags', async (t) => {
  let calls = 0
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/me', {
      config: { cache: { ttl: '30s', key: (request) => `me:${String(request.headers['x-user'])}`, vary: ['X-User', 'Accept-Language'], scope: 'private', tags: ['me'] } }
    }, async (request, reply) => {
      reply.header('vary', 'Origin')
      return `hello ${String(request.headers['x-user'])} ${String(request.headers['accept-language'])} ${++calls}`
    })
  })
  const ada = await app.inject({ url: '/me', headers: { 'x-user': 'ada', 'accept-language': 'en' } })
  t.equal(ada.body, 'hello ada en 1')
  t.equal(ada.headers['cache-control'], 'private, max-age=30')
  t.equal(ada.headers.vary, 'Origin, x-user, accept-language')
  t.equal((await app.inject({ url: '/me', headers: { 'x-user': 'ada', 'accept-language': 'en' } })).body, 'hello ada en 1')
  const hit = await app.inject({ url: '/me', headers: { 'x-user': 'ada', 'accept-language': 'en' } })
  t.equal(hit.headers['x-cache'], 'hit')
  t.equal(hit.headers.vary, 'Origin, x-user, accept-language', 'a hit varies like the original response')
  t.equal((await app.inject({ url: '/me', headers: { 'x-user': 'ada', 'accept-language': 'fr' } })).body, 'hello ada fr 2')
  t.equal((await app.inject({ url: '/me', headers: { 'x-user': 'bob', 'accept-language': 'en' } })).body, 'hello bob en 3')
  t.equal((await app.inject({ url: '/me', headers: { 'x-user': 'bob' } })).body, 'hello bob undefined 4', 'a missing Vary header is a value of its own')
  calls--
  await app.cache.invalidateTags(['me'])
  t.equal((await app.inject({ url: '/me', headers: { 'x-user': 'ada', 'accept-language': 'en' } })).body, 'hello ada en 4')
})

t.test('what is not cached: non-200, Set-Cookie, a handler\'s own Cache-Control, streams, HEAD', async (t) => {
  let calls = 0
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    const config = { cache: { ttl: '60s' } }
    app.get('/404', { config }, async (_request, reply) => { calls++; return await reply.code(404).send('no') })
    app.get('/cookie', { config }, async (_request, reply) => { calls++; reply.header('set-cookie', 'a=1'); return 'c' })
    app.get('/nostore', { config }, async (_request, reply) => { calls++; reply.header('cache-control', 'no-store'); return 'n' })
    app.get('/stream', { config }, async (_request, reply) => {
      calls++
      const { Readable } = await import('node:stream')
      return await reply.type('text/plain').send(Readable.from(['s']))
    })
  })
  for (const url of ['/404', '/cookie', '/nostore', '/stream']) {
    await app.inject(url)
    const again = await app.inject(url)
    t.not(again.headers['x-cache'], 'hit', url)
  }
  t.equal(calls, 8)
  const head = await app.inject({ method: 'HEAD', url: '/cookie' })
  t.equal(head.statusCode, 200)
  t.equal(calls, 9, 'HEAD is passed through')
})

t.test('HEAD never writes the GET entry, nor is answered from it', async (t) => {
  let calls = 0
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/page', { config: { cache: { ttl: '60s' } } }, async () => `page ${++calls}`)
  })
  const admin = adminFor(t, server)
  const head = await app.inject({ method: 'HEAD', url: '/page' })
  t.same([head.statusCode, head.headers['x-cache'], calls], [200, undefined, 1])
  t.same(await admin.keys('*:r:*'), [], 'nothing stored for a HEAD')
  t.equal((await app.inject('/page')).headers['x-cache'], 'miss')
  const again = await app.inject({ method: 'HEAD', url: '/page' })
  t.same([again.statusCode, again.headers['x-cache'], calls], [200, undefined, 3], 'the handler answers it')
})

t.test('Buffer bodies are cached byte for byte; long URLs are hashed into short keys', async (t) => {
  let calls = 0
  const bytes = Buffer.from([0, 255, 10, 13, 128])
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/bin/*', { config: { cache: { ttl: '60s' } } }, async (_request, reply) => { calls++; return await reply.type('application/octet-stream').send(bytes) })
  })
  const url = '/bin/' + 'x'.repeat(2000)
  t.same((await app.inject(url)).rawPayload, bytes)
  const hit = await app.inject(url)
  t.equal(hit.headers['x-cache'], 'hit')
  t.same(hit.rawPayload, bytes)
  t.equal(hit.headers['content-type'], 'application/octet-stream')
  t.equal(hit.headers.etag, etagOf(bytes))
  t.equal(calls, 1)
})

t.test('a route cache hit still runs the application\'s own hooks first (authentication cannot be bypassed)', async (t) => {
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.addHook('preHandler', async (request, reply) => {
      if (request.headers.authorization !== 'yes') await reply.code(401).send('denied')
    })
    app.get('/secret', { config: { cache: { ttl: '60s' } } }, async () => 'secret')
  })
  t.equal((await app.inject({ url: '/secret', headers: { authorization: 'yes' } })).body, 'secret')
  const denied = await app.inject('/secret')
  t.equal(denied.statusCode, 401)
  t.equal(denied.body, 'denied')
})

t.test('Redis down: routes answer uncached (fail open)', async (t) => {
  const local = await redisFor(t)
  let calls = 0
  const app = await cacheApp(t, { redis: local.url, timeout: 200 }, (app) => {
    app.get('/x', { config: { cache: { ttl: '60s' } } }, async () => `v${++calls}`)
  })
  await local.kill()
  const a = await app.inject('/x')
  const b = await app.inject('/x')
  t.same([a.statusCode, a.body, b.statusCode, b.body], [200, 'v1', 200, 'v2'])
})

t.test('a forged stored response is ignored and replaced: no cookie, no split header, no bad shape reaches a client', async (t) => {
  const app = await cacheApp(t, { redis: server.url, l1: false }, (app) => {
    app.get('/f', { config: { cache: { ttl: '60s' } } }, async () => 'real')
  })
  t.equal((await app.inject('/f')).headers['x-cache'], 'miss')
  const admin = adminFor(t, server)
  const [entryKey] = await admin.keys('*:r:*') as [string]
  const raw = await admin.get(entryKey) as string
  const header = raw.slice(0, raw.indexOf('\n') + 1)
  // Each refused for one reason: the ETag is of the shape this plugin writes unless it is the reason.
  const e = '"' + 'a'.repeat(27) + '"'
  const forgeries = [
    { b: 1, e, h: [] },
    { b: 'forged', e },
    { b: 'forged', e, h: [['set-cookie', 'session=attacker']] },
    { b: 'forged', e, h: [['x-a', 'one\r\nset-cookie: s=1']] },
    { b: 'forged', e, h: [['bad name', 'v']] },
    { b: 'forged', e, h: [['x-a', ['v', 7]]] },
    { b: 'forged', e, h: [['x-a']] },
    { b: 'forged', e, h: ['x-a'] },
    { b: 'forged', e, h: [], x: 2 },
    // Values Node refuses to send: each used to fail this request and the next with a 500, until the TTL.
    { b: 'forged', e, h: [['x-a', 'a\u0001b']] },
    { b: 'forged', e, h: [['x-a', 'caf\u0100']] },
    { b: 'forged', e: '"x"\r\nset-cookie: s=1', h: [] },
    { b: 'forged', e: 'x', h: [] }
  ]
  for (const forged of forgeries) {
    await admin.set(entryKey, header + JSON.stringify(forged), 'KEEPTTL')
    const res = await app.inject('/f')
    t.same([res.body, res.headers['x-cache'], res.headers['set-cookie']], ['real', 'miss', undefined], JSON.stringify(forged))
    t.equal((await app.inject('/f')).headers['x-cache'], 'hit')
  }
})

t.test('a response too large to store is sent anyway and the failure logged', async (t) => {
  const app = await cacheApp(t, { redis: server.url, maxBytes: 100 }, (app) => {
    app.get('/big', { config: { cache: { ttl: '60s' } } }, async () => 'x'.repeat(500))
  })
  const res = await app.inject('/big')
  t.equal(res.body, 'x'.repeat(500))
  t.equal((await app.inject('/big')).headers['x-cache'], 'miss')
})

t.test('bad route config fails at startup with a coded error', async (t) => {
  const cases: Array<[string | string[], unknown, RegExp]> = [
    ['GET', 'yes', /config\.cache of GET \/r` is invalid/],
    ['GET', { ttl: 0 }, /config\.cache of GET \/r\.ttl`/],
    ['GET', { ttl: 60 }, /config\.cache of GET \/r\.ttl` is invalid: expected a duration from 1s to 36500d: a number of milliseconds/],
    ['GET', { ttl: '10s', tag: ['a'] }, /config\.cache of GET \/r\.tag` is invalid: expected no such option: did you mean `tags`\?/],
    ['GET', { ttl: '10s', key: 'k' }, /\.key`/],
    ['GET', { ttl: '10s', vary: ['bad header'] }, /\.vary`/],
    ['GET', { ttl: '10s', scope: 'shared' }, /\.scope`/],
    ['GET', { ttl: '10s', tags: [''] }, /\.tags`/],
    ['GET', { ttl: '10s', maxEntries: 0 }, /\.maxEntries`/],
    ['GET', { ttl: '10s', scope: 'private' }, /\.key`/],
    ['POST', { ttl: '10s' }, /config\.cache of POST \/r` is invalid: expected a GET route/],
    // A HEAD route of its own (not the one Fastify adds for a GET route) was let through unchecked.
    ['HEAD', { ttl: 'bogus' }, /config\.cache of HEAD \/r` is invalid: expected a GET route/],
    [['HEAD', 'POST'], { ttl: '10s' }, /config\.cache of HEAD,POST \/r` is invalid: expected a GET route/]
  ]
  for (const [method, config, message] of cases) {
    const app = appFor(t)
    await app.register(cache, { redis: server.url })
    await t.rejects(async () => {
      app.route({ method: method as 'GET', url: '/r', config: { cache: config as { ttl: number } }, handler: async () => 'x' })
      await app.ready()
    }, { code: 'SCALEOUT_ERR_INVALID_OPTION', message })
  }
})

t.test('route caching composes with the route\'s own hooks and ignores the non-GET methods of a route', async (t) => {
  const seen: string[] = []
  let calls = 0
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.route({
      method: ['GET', 'POST'],
      url: '/multi',
      config: { cache: { ttl: '60s' } },
      preHandler: [async () => { seen.push('own preHandler') }],
      onSend: async (_request, _reply, payload) => { seen.push('own onSend'); return payload },
      handler: async () => `v${++calls}`
    })
    app.get('/plain', async () => 'plain')
  })
  t.equal((await app.inject('/multi')).body, 'v1')
  t.equal((await app.inject('/multi')).headers['x-cache'], 'hit')
  const post = await app.inject({ method: 'POST', url: '/multi' })
  t.equal(post.body, 'v2')
  t.equal(post.headers['x-cache'], undefined)
  t.equal(post.headers.etag, undefined)
  t.same(seen, ['own preHandler', 'own onSend', 'own preHandler', 'own onSend', 'own preHandler', 'own onSend'])
  const plain = await app.inject('/plain')
  t.equal(plain.headers['x-cache'], undefined)
})

t.test('vary without a Vary of the handler\'s own', async (t) => {
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/v', { config: { cache: { ttl: '60s', vary: ['Accept'] } } }, async () => 'v')
  })
  const miss = await app.inject({ url: '/v', headers: { accept: 'text/plain' } })
  const hit = await app.inject({ url: '/v', headers: { accept: 'text/plain' } })
  t.same([miss.headers['x-cache'], miss.headers.vary, hit.headers['x-cache'], hit.headers.vary], ['miss', 'accept', 'hit', 'accept'])
})

// A hit replayed the first request's headers over what this request's hooks had set: a second
// allowed Origin got the first one's Access-Control-Allow-Origin (its browser refused the answer).
t.test('a hit keeps the headers this request\'s own hooks set, and replays the others', async (t) => {
  let served = 0
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.addHook('onRequest', async (request, reply) => {
      reply.header('access-control-allow-origin', request.headers.origin ?? '*')
      reply.header('x-served', String(++served))
    })
    app.get('/cors', { config: { cache: { ttl: '60s' } } }, async (_request, reply) => {
      reply.header('x-from-handler', 'kept').header('vary', 'Origin')
      return 'shared body'
    })
  })
  const answer = async (origin: string): Promise<unknown[]> => {
    const res = await app.inject({ url: '/cors', headers: { origin } })
    return [res.body, res.headers['x-cache'], res.headers['access-control-allow-origin'], res.headers['x-served'], res.headers['x-from-handler'], res.headers.vary]
  }
  t.same(await answer('https://a.example'), ['shared body', 'miss', 'https://a.example', '1', 'kept', 'Origin'])
  t.same(await answer('https://b.example'), ['shared body', 'hit', 'https://b.example', '2', 'kept', 'Origin'])
})

// A hit replayed the stored Vary only when this request's hooks had not set one: with @fastify/cors
// (Vary: Origin, set in onRequest) a hit said `Vary: Origin` on a `Cache-Control: public` response
// that varies on Accept-Language too, and a shared cache in front kept one language for everyone.
t.test('a hit merges the stored Vary into the one this request\'s hooks set', async (t) => {
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    // What @fastify/cors does for every request (its default hook is onRequest).
    app.addHook('onRequest', async (request, reply) => { reply.header('vary', request.headers['x-hook-vary'] ?? 'Origin') })
    app.get('/greeting', { config: { cache: { ttl: '60s', vary: ['accept-language'] } } }, async (request, reply) => {
      reply.header('vary', `${String(reply.getHeader('vary'))}, X-Device`)
      return request.headers['accept-language'] === 'de' ? 'Hallo' : 'Hello'
    })
  })
  const answer = async (headers: Record<string, string>): Promise<unknown[]> => {
    const res = await app.inject({ url: '/greeting', headers: { 'accept-language': 'de', ...headers } })
    // A response any shared cache in front may keep (max-age is what is left of the ttl).
    return [res.body, res.headers['x-cache'], String(res.headers['cache-control']).replace(/=\d+$/, '=N'), res.headers.vary]
  }
  t.same(await answer({}), ['Hallo', 'miss', 'public, max-age=N', 'Origin, X-Device, accept-language'])
  t.same(await answer({}), ['Hallo', 'hit', 'public, max-age=N', 'Origin, X-Device, accept-language'], 'the same Vary as the original')
  // Names are case-insensitive: one a hook already lists is not repeated.
  t.same(await answer({ 'x-hook-vary': 'Accept-Language, x-device' }), ['Hallo', 'hit', 'public, max-age=N', 'Accept-Language, x-device, Origin'])
})

// The README's own example: GET /catalog cached with tags, PUT /catalog invalidates them. The tag
// tokens were read only when the response was stored, after the handler: an invalidation while a
// slow GET ran was lost, and its old catalog was served to everyone for the route's whole ttl.
for (const l1 of [false, true]) {
  t.test(`an invalidation while the handler runs leaves its response invalid (L1 ${l1 ? 'on' : 'off'})`, async (t) => {
    let catalog = 'price 4'
    let release = (): void => {}
    let rendering: Promise<void> = Promise.resolve()
    const setup = (app: FastifyInstance): void => {
      app.get('/catalog', { config: { cache: { ttl: '1m', tags: ['catalog'] } } }, async () => {
        const read = catalog
        await rendering
        return read
      })
    }
    const a = await cacheApp(t, { redis: server.url, ...(l1 ? {} : { l1: false }) }, setup)
    const b = await cacheApp(t, { redis: server.url, ...(l1 ? {} : { l1: false }) }, setup)
    rendering = new Promise<void>((resolve) => { release = resolve })
    const slow = a.inject('/catalog')
    await waitUntil('the handler runs', async () => await adminFor(t, server).exists('scaleout:cache:json.v1:t:catalog') === 1, 5000)
    catalog = 'price 5'
    await b.cache.invalidateTags(['catalog'])
    if (l1) await waitUntil('a heard it', () => a.cache.stats().bus.messages >= 1, 5000)
    release()
    t.same([(await slow).body, (await slow).headers['x-cache']], ['price 4', 'miss'], 'the slow request gets what it read')
    rendering = Promise.resolve()
    const fresh = await a.inject('/catalog')
    t.same([fresh.body, fresh.headers['x-cache']], ['price 5', 'miss'], 'the old catalog was stored invalid')
    const other = await b.inject('/catalog')
    t.same([other.body, other.headers['x-cache']], ['price 5', 'hit'], 'and the new one is what every instance serves')
  })
}

// The README's Limits: what is stored is the payload after the application's onSend hooks, which
// run again on a hit; only `vary` makes the key, whatever Vary the handler sets.
t.test('a hit goes through the application\'s onSend hooks again, and only vary makes the key', async (t) => {
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.addHook('onSend', async (_request, _reply, payload) => typeof payload === 'string' ? `[${payload}]` : payload)
    app.get('/wrapped', { config: { cache: { ttl: '60s' } } }, async () => 'body')
    app.get('/lang', { config: { cache: { ttl: '60s' } } }, async (request, reply) => {
      reply.header('vary', 'Accept-Language')
      return String(request.headers['accept-language'])
    })
  })
  const first = await app.inject('/wrapped')
  const hit = await app.inject('/wrapped')
  t.same([first.body, first.headers['x-cache'], hit.body, hit.headers['x-cache']], ['[body]', 'miss', '[[body]]', 'hit'])
  t.same((await app.inject({ url: '/lang', headers: { 'accept-language': 'fr' } })).body, '[fr]')
  const other = await app.inject({ url: '/lang', headers: { 'accept-language': 'en' } })
  t.same([other.body, other.headers['x-cache']], ['[[fr]]', 'hit'], 'the handler\'s own Vary is not part of the key')
})
