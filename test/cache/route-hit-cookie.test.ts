import t from 'tap'
import { redisFor } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// A route-cache hit said `Cache-Control: public` even when an application hook then gave the
// response a cookie of this client's own (a session plugin starting a session for a new visitor,
// say): a CDN or proxy cache in front may store such a response and hand that cookie, and the
// session it names, to every later visitor. A miss with a cookie was never marked public (nor
// stored); a hit that leaves with one is now marked private.

const server = await redisFor(t)

t.test('regression: a hit that an application hook gave a Set-Cookie was marked public', async (t) => {
  const app = await cacheApp(t, { redis: server.url }, (app) => {
    app.addHook('onSend', async (request, reply) => {
      if (request.headers['x-new-visitor'] !== undefined) reply.header('set-cookie', 'sid=new-session; HttpOnly')
    })
    app.get('/page', { config: { cache: { ttl: '60s' } } }, async () => 'page')
  })
  const first = await app.inject('/page')
  t.same([first.headers['x-cache'], first.headers['cache-control'], first.headers['set-cookie']], ['miss', 'public, max-age=60', undefined])
  const visitor = await app.inject({ url: '/page', headers: { 'x-new-visitor': '1' } })
  t.same([visitor.statusCode, visitor.body, visitor.headers['x-cache'], visitor.headers['set-cookie']], [200, 'page', 'hit', 'sid=new-session; HttpOnly'])
  t.match(visitor.headers['cache-control'], /^private, max-age=(59|60)$/)
  const revalidated = await app.inject({ url: '/page', headers: { 'x-new-visitor': '1', 'if-none-match': first.headers.etag as string } })
  t.same([revalidated.statusCode, revalidated.headers['set-cookie']], [304, 'sid=new-session; HttpOnly'])
  t.match(revalidated.headers['cache-control'], /^private, max-age=(59|60)$/)
  const next = await app.inject('/page')
  t.same([next.headers['x-cache'], next.headers['set-cookie']], ['hit', undefined])
  t.match(next.headers['cache-control'], /^public, max-age=(59|60)$/, 'the next one, without a cookie, is public again')
})
