import t from 'tap'
import cache from '@scaleout/cache'
import { appFor, logSink, redisFor } from '../helpers/index.js'

// A route response too large to store (over maxBytes) was counted toward the route's maxEntries and
// taken back off the count (two scripts in Redis), then logged at warn, on every request: a client
// asking for large responses (?limit= a big page) could write the log as fast as it asked. Its size
// is now checked before anything is sent to Redis; it is counted in storeErrors, and logged once,
// then at most once a minute with the number held back since.

const server = await redisFor(t)

t.test('regression: every response too large to store cost two Redis scripts and a warning', async (t) => {
  const sink = logSink('warn')
  const app = appFor(t, { logger: sink.logger })
  await app.register(cache, { redis: server.url, timeout: 3000, heartbeatInterval: false, maxBytes: 1000 })
  app.get('/page', { config: { cache: { ttl: '60s' } } }, async (request) => 'x'.repeat(Number((request.query as { size: string }).size)))
  await app.ready()
  t.equal((await app.inject('/page?size=10')).headers['x-cache'], 'miss', 'a small one is stored')
  const { result, commands } = await server.countCommands(async () => {
    const answers = []
    for (let i = 0; i < 5; i++) answers.push(await app.inject(`/page?size=2000&i=${i}`))
    return answers
  })
  t.same(result.map((r) => [r.statusCode, r.body.length, r.headers['x-cache']]), Array(5).fill([200, 2000, 'miss']), 'each served, not stored')
  t.same(commands, { get: 5 }, 'one lookup each, and nothing else')
  t.same(sink.messages(40), ['@scaleout/cache: response not cached'], 'logged once')
  t.equal(app.cache.stats().storeErrors, 5, 'each counted')
  t.equal((await app.inject('/page?size=10')).headers['x-cache'], 'hit')
})
