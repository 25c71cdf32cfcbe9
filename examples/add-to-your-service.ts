// Adds every scaleout plugin to an existing Fastify service. build() returns the app; it needs
// REDIS_URL and SESSION_SECRETS (two or more secrets of 32+ characters, comma-separated).
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyRedis from '@fastify/redis'
import websocket from '@fastify/websocket'
import broadcast from '@scaleout/broadcast'
import cache from '@scaleout/cache'
import health from '@scaleout/health'
import proxy from '@scaleout/proxy'
import session from '@scaleout/session'

declare module '@scaleout/session' {
  interface SessionData {
    userId?: string | number
  }
}

// Stands in for your user store: it knows one user, whose password is in DEMO_PASSWORD.
async function checkPassword (body: unknown): Promise<{ id: string } | null> {
  const { name, password } = (body ?? {}) as { name?: unknown, password?: unknown }
  const expected = process.env.DEMO_PASSWORD
  return name === 'demo' && expected !== undefined && password === expected ? { id: 'demo' } : null
}

export async function build (): Promise<FastifyInstance> {
  // No trustProxy: @scaleout/proxy decides which peers may tell the client's address and protocol.
  const app = Fastify({ logger: true })

  // 1. One Redis client for the whole service. Every scaleout plugin below is given no `redis`
  //    option, so each uses this one (fastify.redis); @fastify/redis quits it on close.
  await app.register(fastifyRedis, { url: process.env.REDIS_URL })
  // 2. The proxy first: request.ip and request.protocol are right for everything after it (the
  //    session cookie's Secure flag, the health details allow list, your logs). List your proxies.
  await app.register(proxy, { trust: process.env.TRUSTED_PROXIES ?? 'loopback' })
  // 3. Health before your routes: /health/live, /health/ready (which checks fastify.redis),
  //    /health/startup, and a drain on SIGTERM.
  await app.register(health, { instanceHeader: true })
  // 4. Sessions, the cache, then broadcast before @fastify/websocket (sockets close with 1001).
  await app.register(session, { secret: String(process.env.SESSION_SECRETS).split(',') })
  await app.register(cache, { ttl: '1m' })
  await app.register(broadcast)
  await app.register(websocket)

  // 5. Your routes, after every plugin.
  app.post('/login', async (request, reply) => {
    const user = await checkPassword(request.body)
    if (user === null) return await reply.code(401).send({ error: 'wrong name or password' })
    await request.session.regenerate() // a new session id at every privilege change
    request.session.set('userId', user.id)
    return { userId: user.id }
  })

  app.post('/logout', { config: { session: 'lazy' } }, async (request) => {
    await request.session.destroy()
    return { userId: null }
  })

  app.get('/me', async (request) => ({ userId: request.session.get('userId') ?? null }))

  // Cached for every instance; a shared cache never stores a response to a request with cookies.
  app.get('/catalog', { config: { session: false, cache: { ttl: '30s', tags: ['catalog'] } } }, async () => {
    return [{ sku: 'tea', price: 4 }]
  })

  // WebSocket authentication by session: the browser sends its session cookie with the upgrade.
  app.broadcast.websocket('/live', {
    channels: (request) => ['news', `user:${String(request.session.get('userId'))}`],
    route: {
      preValidation: async (request, reply) => {
        if (request.session.get('userId') === undefined) await reply.code(401).send({ error: 'log in first' })
      }
    },
    onMessage: (data, socket) => {
      if (data.toString() === 'ping') socket.send('pong')
    }
  })

  app.post('/news', async (request, reply) => {
    if (request.session.get('userId') === undefined) return await reply.code(401).send({ error: 'log in first' })
    const { delivered } = await app.broadcast.publish('news', request.body ?? null)
    return { delivered }
  })

  return app
}
