import t from 'tap'
import cache from '@scaleout/cache'
import type { FastifyInstance } from 'fastify'
import { adminFor, appFor, logSink, redisFor, waitUntil, type LogSink } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// wrap() and the route cache take the tag tokens before the value is computed, so that an
// invalidateTags() while it is computed leaves the stored entry invalid. When that read failed (one
// timeout: a Redis blip), the value was stored all the same, with tokens read again after it was
// computed: those of after the invalidation, so the value computed from the old data was stored
// valid, and served by every instance for its whole TTL. It is now returned, and not stored.
// CLIENT PAUSE ... WRITE holds the lease and the tag-token script (writes, for Redis) until the
// computing instance, with a 100 ms timeout, gave up on them; its reads are answered.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())
const admin = adminFor(t, server)
const TOKENS_MISSING = '@scaleout/cache: could not read the tag tokens before the value was computed; returned it uncached'

/** An app with a 100 ms timeout whose warnings are kept, set up like cacheApp's. */
async function blippingApp (t: Parameters<typeof cacheApp>[0], sink: LogSink, setup?: (app: FastifyInstance) => void): Promise<FastifyInstance> {
  const app = appFor(t, { logger: sink.logger })
  await app.register(cache, { redis: server.url, timeout: 100, heartbeatInterval: false })
  setup?.(app)
  await app.ready()
  // The generation is known: its read is a script, which the pause would hold as well.
  await app.cache.get('warm')
  return app
}

/**
 * Lets the held writes run once `app` gave up on `count` of them (timeouts), and resolves when the
 * tag's token exists: the held script ran, too late for `app`.
 */
async function releaseWritesAfter (app: FastifyInstance, count: number, tag: string): Promise<void> {
  await waitUntil('the held Redis calls timed out', () => app.cache.stats().timeouts === count, 5000)
  await admin.call('CLIENT', 'UNPAUSE')
  await waitUntil('the held script ran', async () => await admin.exists(`scaleout:cache:json.v1:t:${tag}`) === 1, 5000)
}

t.test('wrap(): an invalidateTags() while fn runs, after a failed tag-token read, leaves nothing stored', async (t) => {
  const sink = logSink('warn')
  const a = await blippingApp(t, sink)
  const b = await cacheApp(t, { redis: server.url })
  let db = 'old'
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  await admin.call('CLIENT', 'PAUSE', '10000', 'WRITE')
  const computing = a.cache.wrap('k', async () => {
    const read = db // reads the database...
    await gate // ...then renders slowly
    return read
  }, { tags: ['T'] })
  await releaseWritesAfter(a, 2, 'T') // the lease (wrap computes without it), then the tag tokens
  db = 'new'
  await b.cache.invalidateTags(['T']) // the write path: update, then invalidate
  release()
  t.equal(await computing, 'old', 'the caller gets what fn computed')
  t.same(await admin.keys('*:e:k'), [], 'and it was not stored')
  t.equal(a.cache.stats().storeErrors, 1)
  t.same(sink.messages(40), [TOKENS_MISSING])
  t.equal(await b.cache.get('k'), undefined)
  t.equal(await a.cache.get('k'), undefined)
})

t.test('route cache: an invalidateTags() while the handler runs, after a failed tag-token read, leaves nothing stored', async (t) => {
  let catalog = 'price 4'
  let gate = Promise.resolve()
  const route = (app: FastifyInstance): void => {
    app.get('/catalog', { config: { cache: { ttl: '60s', tags: ['catalog'] } } }, async () => {
      const read = catalog
      await gate
      return read
    })
  }
  const sink = logSink('warn')
  const a = await blippingApp(t, sink, route)
  const b = await cacheApp(t, { redis: server.url }, route)
  let release = (): void => {}
  gate = new Promise<void>((resolve) => { release = resolve })
  await admin.call('CLIENT', 'PAUSE', '10000', 'WRITE')
  const slow = a.inject('/catalog')
  await releaseWritesAfter(a, 1, 'catalog') // the tag tokens, taken as the handler started
  catalog = 'price 5'
  await b.cache.invalidateTags(['catalog'])
  release()
  t.same([(await slow).body, (await slow).headers['x-cache']], ['price 4', 'miss'], 'the slow request gets what it read')
  t.same(await admin.keys('*:r:*'), [], 'and it was not stored')
  t.same(await admin.keys('*:n:*'), [], 'nor counted toward maxEntries')
  t.equal(a.cache.stats().storeErrors, 1)
  t.same(sink.messages(40), [TOKENS_MISSING])
  const fresh = await a.inject('/catalog')
  t.same([fresh.body, fresh.headers['x-cache']], ['price 5', 'miss'])
  const other = await b.inject('/catalog')
  t.same([other.body, other.headers['x-cache']], ['price 5', 'hit'])
})
