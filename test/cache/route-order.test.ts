import t from 'tap'
import cache from '@scaleout/cache'
import { appFor, logSink, redisFor } from '../helpers/index.js'

// Issue 19: a cached route registered before the plugin was silently never cached. It still is not
// (onRoute only sees later routes), but the README says so and the plugin warns once per such route.
const server = await redisFor(t)
const WARNING = '@scaleout/cache: GET /early has config.cache but was registered before @scaleout/cache, so it is never cached; register @scaleout/cache before your routes'

t.test('a route with config.cache registered before the plugin is not cached, and one warning says why', async (t) => {
  const sink = logSink('warn')
  const app = appFor(t, { logger: sink.logger })
  let early = 0
  let late = 0
  app.get('/early', { config: { cache: { ttl: '60s' } } }, async () => `early ${++early}`)
  await app.register(cache, { redis: server.url, heartbeatInterval: false })
  app.get('/late', { config: { cache: { ttl: '60s' } } }, async () => `late ${++late}`)
  app.get('/plain', async () => 'plain')
  await app.ready()

  for (let i = 1; i <= 2; i++) {
    const response = await app.inject('/early')
    t.equal(response.body, `early ${i}`, 'the handler runs every time')
    t.equal(response.headers['x-cache'], undefined)
    t.equal(response.headers['cache-control'], undefined)
  }
  t.equal((await app.inject({ method: 'HEAD', url: '/early' })).statusCode, 200)
  t.same(sink.messages(40), [WARNING], 'one warning for the route, whatever the requests and methods')
  t.match(sink.lines[0], { plugin: '@scaleout/cache', route: 'GET /early' })

  // A route registered after the plugin is cached, and neither it (HEAD included) nor a route
  // without config.cache warns.
  t.equal((await app.inject('/late')).headers['x-cache'], 'miss')
  const hit = await app.inject('/late')
  t.equal(hit.headers['x-cache'], 'hit')
  t.equal(hit.body, 'late 1')
  t.equal((await app.inject({ method: 'HEAD', url: '/late' })).statusCode, 200)
  t.equal((await app.inject('/plain')).body, 'plain')
  t.same(sink.messages(40), [WARNING])
})
