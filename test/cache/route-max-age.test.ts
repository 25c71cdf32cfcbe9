import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { adminFor, redisFor } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// A hit's Cache-Control max-age was what its entry's header said was left, whatever the route's
// ttl: an entry written by an instance whose clock is ahead (or planted in Redis with a far expiry)
// made every instance that read it tell browsers and shared caches in front to keep the response
// for as long as that header said, days past the ttl that the README calls its max-age. A hit now
// says at most the route's ttl.

const server = await redisFor(t)
const admin = adminFor(t, server)

t.test('regression: a hit advertised a max-age past the route\'s ttl when its entry said so', async (t) => {
  const route = (app: FastifyInstance): void => {
    app.get('/page', { config: { cache: { ttl: '60s' } } }, async () => 'page')
  }
  const writer = await cacheApp(t, { redis: server.url }, route)
  t.equal((await writer.inject('/page')).headers['cache-control'], 'public, max-age=60')
  const [key] = await admin.keys('*:r:*')
  const raw = await admin.get(key as string) as string
  const ahead = Date.now() + 10 * 86_400_000
  await admin.set(key as string, JSON.stringify([ahead, ahead]) + raw.slice(raw.indexOf('\n')), 'KEEPTTL')
  const reader = await cacheApp(t, { redis: server.url }, route)
  const hit = await reader.inject('/page')
  t.same([hit.statusCode, hit.body, hit.headers['x-cache'], hit.headers['cache-control']], [200, 'page', 'hit', 'public, max-age=60'])
})
