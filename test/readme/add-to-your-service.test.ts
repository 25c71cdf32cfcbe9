import t, { type Test } from 'tap'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import { build } from '../../examples/add-to-your-service.js'
import { redisFor, waitUntil } from '../helpers/index.js'
import { blocksOf, ROOT } from './blocks.js'

// The root README's "Add scaleout to your service", which is examples/add-to-your-service.ts,
// started against a private Redis and driven through every route it shows.

const FILE = join(ROOT, 'examples', 'add-to-your-service.ts')

function setEnv (t: Test, values: Record<string, string>): void {
  for (const [name, value] of Object.entries(values)) {
    const before = process.env[name]
    process.env[name] = value
    t.teardown(() => {
      if (before === undefined) delete process.env[name]
      else process.env[name] = before
    })
  }
}

t.test('the README section is the example file, exactly', async (t) => {
  const readme = join(ROOT, 'README.md')
  const text = readFileSync(readme, 'utf8')
  const at = text.indexOf('\n## Add scaleout to your service\n')
  t.ok(at > 0, 'the section exists')
  const block = blocksOf(readme).find((block) => block.language === 'ts' && text.split('\n').slice(0, block.line).join('\n').length > at)
  t.equal(block?.code, readFileSync(FILE, 'utf8'))
})

t.test('the guide runs: one shared Redis client, proxy, health, session, cache, broadcast over session-authenticated WebSockets', async (t) => {
  const redis = await redisFor(t)
  setEnv(t, {
    REDIS_URL: redis.url,
    SESSION_SECRETS: 'a-secret-of-at-least-32-characters-1,a-secret-of-at-least-32-characters-0',
    DEMO_PASSWORD: 'correct horse battery staple'
  })
  const app = await build()
  t.teardown(async () => await app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port

  // Every plugin uses fastify.redis: the only connections are that client and those duplicated
  // from it (the cache's invalidation bus and broadcast's, the session's and the cache's request path).
  const admin = redis.client()
  t.teardown(() => admin.disconnect())
  const clients = (await admin.client('LIST') as string).trim().split('\n')
  t.equal(clients.length, 6, 'fastify.redis, two subscribers, the session\'s and the cache\'s request-path links and this admin link')
  t.equal(clients.filter((line) => / sub=1 /.test(line)).length, 2, 'two subscribers')

  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 200)
  t.type(ready.headers['x-served-by'], 'string')
  t.match((await app.health.refresh()).checks['redis:responseTime'], [{ status: 'pass' }], 'health checks fastify.redis')
  t.equal((await app.inject('/health/live')).statusCode, 200)

  t.equal((await app.inject({ method: 'POST', url: '/login', payload: { name: 'demo', password: 'wrong' } })).statusCode, 401)
  t.equal((await app.inject({ method: 'POST', url: '/login' })).statusCode, 401, 'no body: no user')
  const login = await app.inject({ method: 'POST', url: '/login', payload: { name: 'demo', password: 'correct horse battery staple' } })
  t.equal(login.statusCode, 200)
  t.same(login.json(), { userId: 'demo' })
  const cookie = String(login.headers['set-cookie']).split(';')[0] as string
  t.same((await app.inject({ url: '/me', headers: { cookie } })).json(), { userId: 'demo' })
  t.same((await app.inject('/me')).json(), { userId: null })

  const first = await app.inject('/catalog')
  t.equal(first.statusCode, 200)
  t.same(first.json(), [{ sku: 'tea', price: 4 }])
  const etag = first.headers.etag as string
  t.type(etag, 'string')
  t.equal((await app.inject({ url: '/catalog', headers: { 'if-none-match': etag } })).statusCode, 304, 'served from the cache')

  t.equal((await app.inject({ method: 'POST', url: '/news', payload: { headline: 'x' } })).statusCode, 401)
  const anonymous = new WebSocket(`ws://127.0.0.1:${port}/live`)
  const [, refused] = await once(anonymous, 'unexpected-response') as [unknown, { statusCode: number }]
  t.equal(refused.statusCode, 401, 'an upgrade without a logged-in session is refused')
  // ws reports the abandoned handshake as an error when its request is dropped.
  const dropped = once(anonymous, 'error')
  anonymous.terminate()
  t.match((await dropped)[0], { message: /closed before the connection was established/ })

  const socket = new WebSocket(`ws://127.0.0.1:${port}/live`, { headers: { cookie } })
  t.teardown(() => socket.terminate())
  await once(socket, 'open')
  const frames: string[] = []
  socket.on('message', (data: Buffer) => frames.push(data.toString()))
  socket.send('ping')
  await waitFor(frames, 1)
  t.equal(frames[0], 'pong', 'onMessage answers with text')
  // The socket joined its channels in the upgrade's own turn, before it could read a frame: the
  // pong above comes after that.
  const published = await app.inject({ method: 'POST', url: '/news', headers: { cookie }, payload: { headline: 'hello' } })
  t.same(published.json(), { delivered: 1 })
  await waitFor(frames, 2)
  const news = frames[1] as string
  t.same(JSON.parse(news), { channel: 'news', data: { headline: 'hello' } })

  t.same((await app.inject({ method: 'POST', url: '/news', headers: { cookie } })).json(), { delivered: 1 }, 'a bodyless publish is null')
  await waitFor(frames, 3)
  t.same(JSON.parse(frames[2] as string), { channel: 'news', data: null })
  t.same((await app.inject({ method: 'POST', url: '/logout', headers: { cookie } })).json(), { userId: null })
  t.same((await app.inject({ url: '/me', headers: { cookie } })).json(), { userId: null }, 'logged out')
})

async function waitFor (frames: string[], count: number): Promise<void> {
  await waitUntil(`${count} frames`, () => frames.length >= count)
}
