import t from 'tap'
import cache from '@scaleout/cache'
import { adminFor, appFor, redisFor } from '../helpers/index.js'
import { cacheApp } from './setup.js'

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

const admin = adminFor(t, server)
const entries = async (): Promise<number> => (await admin.keys('*:r:*')).length

t.test('regression: a response to a request with Authorization was stored and served to other users', async (t) => {
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/profile', { config: { cache: { ttl: '60s' } } }, async (request) => `profile of ${request.headers.authorization ?? 'nobody'}`)
  })
  const alice = await app.inject({ url: '/profile', headers: { authorization: 'Bearer alice' } })
  t.same([alice.body, alice.headers['x-cache'], alice.headers['cache-control']], ['profile of Bearer alice', 'bypass', undefined])
  t.equal(await entries(), 0, 'nothing stored for a request with credentials')
  const bob = await app.inject({ url: '/profile', headers: { authorization: 'Bearer bob' } })
  t.same([bob.body, bob.headers['x-cache']], ['profile of Bearer bob', 'bypass'])
  const anonymous = await app.inject('/profile')
  t.same([anonymous.body, anonymous.headers['x-cache']], ['profile of nobody', 'miss'])
  t.equal((await app.inject('/profile')).headers['x-cache'], 'hit', 'anonymous requests share the cache')
  const again = await app.inject({ url: '/profile', headers: { authorization: 'Bearer alice' } })
  t.same([again.body, again.headers['x-cache']], ['profile of Bearer alice', 'bypass'], 'and a stored response never answers credentials')
})

t.test('regression: a response to a request with a cookie was stored and served to other users', async (t) => {
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/page', { config: { cache: { ttl: '60s' } } }, async (request) => `page for ${request.headers.cookie ?? 'nobody'}`)
  })
  t.equal((await app.inject('/page')).body, 'page for nobody')
  const carol = await app.inject({ url: '/page', headers: { cookie: 'sid=carol' } })
  t.same([carol.body, carol.headers['x-cache']], ['page for sid=carol', 'bypass'])
  const dave = await app.inject({ url: '/page', headers: { cookie: '' } })
  t.same([dave.body, dave.headers['x-cache']], ['page for ', 'bypass'], 'an empty Cookie header counts too')
  t.equal(await entries(), 1)
})

t.test('regression: scope "private" with the default key served one user\'s page to another; it is refused at registration', async (t) => {
  const app = appFor(t)
  await app.register(cache, { redis: server.url })
  await t.rejects(async () => {
    app.get('/me', { config: { cache: { ttl: '60s', scope: 'private' } } }, async () => 'mine')
    await app.ready()
  }, { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /config\.cache of GET \/me\.key` is invalid: expected a function \(request\) => string naming the user, which scope "private" requires/ })
})

t.test('scope "private" with a key that names the user: each user gets their own entry, anonymous requests as the key decides', async (t) => {
  let calls = 0
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/me', {
      config: { cache: { ttl: '60s', scope: 'private', key: (request) => request.headers.authorization === undefined ? null : `user:${request.headers.authorization}` } }
    }, async (request) => `${request.headers.authorization ?? 'anonymous'} ${++calls}`)
  })
  const alice = { authorization: 'Bearer alice' }
  const first = await app.inject({ url: '/me', headers: alice })
  t.same([first.body, first.headers['x-cache'], first.headers['cache-control']], ['Bearer alice 1', 'miss', 'private, max-age=60'])
  const hit = await app.inject({ url: '/me', headers: alice })
  t.same([hit.body, hit.headers['x-cache']], ['Bearer alice 1', 'hit'])
  t.equal((await app.inject({ url: '/me', headers: { authorization: 'Bearer bob' } })).body, 'Bearer bob 2')
  const anonymous = await app.inject('/me')
  t.same([anonymous.body, anonymous.headers['x-cache']], ['anonymous 3', 'bypass'], 'key() returned null: not cached')
  t.equal((await app.inject('/me')).body, 'anonymous 4')
})

t.test('regression: a handler that refuses anonymous clients itself (401) was skipped on hits', async (t) => {
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.get('/admin', { config: { cache: { ttl: '60s' } } }, async (request, reply) => {
      if (request.headers.authorization !== 'Bearer admin') return await reply.code(401).send('who are you?')
      return 'admin data'
    })
  })
  t.equal((await app.inject({ url: '/admin', headers: { authorization: 'Bearer admin' } })).body, 'admin data')
  const anonymous = await app.inject('/admin')
  t.same([anonymous.statusCode, anonymous.body], [401, 'who are you?'])
  const again = await app.inject('/admin')
  t.same([again.statusCode, again.body, again.headers['x-cache']], [401, 'who are you?', undefined], 'a 401 is never stored either')
  t.equal(await entries(), 0)
})

t.test('responses the handler marks private or no-store, or that set a cookie, are never stored', async (t) => {
  let calls = 0
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    const config = { cache: { ttl: '60s' } }
    app.get('/private', { config }, async (_request, reply) => { calls++; reply.header('cache-control', 'private'); return 'p' })
    app.get('/cookie', { config }, async (_request, reply) => { calls++; reply.header('set-cookie', ['a=1', 'b=2']); return 'c' })
    app.get('/star', { config }, async (_request, reply) => { calls++; reply.header('vary', 'Accept, *'); return 's' })
  })
  for (const url of ['/private', '/cookie', '/star']) {
    await app.inject(url)
    const again = await app.inject(url)
    t.equal(again.headers['x-cache'], undefined, url)
  }
  t.equal(calls, 6)
  t.equal(await entries(), 0)
})
