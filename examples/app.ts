// The example service: every scaleout plugin in one small, realistic app. Nothing is kept in the
// process, so any number of copies can run behind a load balancer.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import { Redis } from 'ioredis'
import { closeClient, instanceIdentity, redisDefaults, waitForReady } from '@scaleout/core'
import proxy from '@scaleout/proxy'
import health from '@scaleout/health'
import session from '@scaleout/session'
import cache from '@scaleout/cache'
import broadcast from '@scaleout/broadcast'
import type { ExampleConfig } from './config.js'
import { notes } from './notes.js'

declare module '@scaleout/session' {
  interface SessionData {
    // Shaped like the test suite's declaration: one program type-checks both.
    userId?: string | number
    counter?: number
  }
}

const page = readFileSync(join(import.meta.dirname, 'public', 'index.html'), 'utf8')
const NAME = /^[\w .-]{1,32}$/

export async function buildApp (config: ExampleConfig, options: { logger?: boolean } = {}): Promise<FastifyInstance> {
  const identity = instanceIdentity({ version: '0.1.0' })
  const app = Fastify({ logger: options.logger ?? true, forceCloseConnections: 'idle' })
  // One Redis connection for the whole instance, shared by every plugin; the cache and broadcast
  // each open only the subscriber connection they need. The settings the plugins give a client of
  // their own (fail fast while Redis is away), without auto-pipelining, which the plugins' request
  // paths do not use. The plugins never close a client they were given: the app does, last (onClose
  // hooks run last-added-first).
  // Behind Sentinel the client asks the Sentinels for the primary at every (re)connection, so it
  // follows a failover without a restart.
  const settings = { ...redisDefaults, enableAutoPipelining: false }
  const redis = typeof config.redis === 'string' ? new Redis(config.redis, settings) : new Redis({ ...settings, ...config.redis })
  redis.on('error', (err) => { app.log.warn({ err }, 'Redis connection error') })
  app.addHook('onClose', async () => { await closeClient(redis) })
  // Start-up waits a little for the first connection, as the plugins do for a client of their own,
  // then goes on: requests needing Redis fail fast (503) until it is reachable.
  if (!await waitForReady(redis, 2000)) app.log.warn('Redis not reachable yet; requests needing it fail fast until it is')

  await app.register(proxy, { trust: config.trust })
  await app.register(health, {
    redis,
    instanceHeader: true,
    drainDelay: config.drainDelayMs,
    drainDeadline: config.drainDeadlineMs,
    // Under a launcher, instance.ts turns signals into drains itself (see there).
    signals: config.launched ? false : ['SIGTERM', 'SIGINT'],
    version: identity.version
  })
  await app.register(session, { secret: config.sessionSecrets, redis })
  await app.register(cache, { redis, prefix: 'example:cache:', ttl: '30s', l1: true })
  // Before @fastify/websocket, so shutdown closes chat sockets with 1001 (going away).
  await app.register(broadcast, { redis, prefix: 'example:bus:' })
  await app.register(websocket)
  // Notes on PostgreSQL when DATABASE_URL is set (npm start sets it): see notes.ts.
  await app.register(notes, { secret: config.sessionSecrets })

  app.get('/', { config: { session: false } }, async (_request, reply) => {
    return await reply.type('text/html; charset=utf-8').send(page)
  })

  app.post<{ Body: { name?: unknown } }>('/login', async (request, reply) => {
    const name = request.body?.name
    if (typeof name !== 'string' || !NAME.test(name)) {
      return await reply.code(400).send({ error: 'name must be 1 to 32 letters, digits, spaces, dots or dashes' })
    }
    // A new id at login: a session id seen before authentication is never the authenticated one.
    await request.session.regenerate()
    request.session.set('userId', name)
    request.session.set('counter', 0)
    return { user: name, instance: identity.id }
  })

  // Lazy: the session is not read first, so the whole logout is one Redis round trip.
  app.post('/logout', { config: { session: 'lazy' } }, async (request) => {
    await request.session.destroy()
    return { user: null, instance: identity.id }
  })

  // Reads and bumps a per-session counter: it keeps counting whichever instance answers.
  app.get('/api/me', async (request) => {
    const user = request.session.get('userId') ?? null
    const counter = (request.session.get('counter') ?? 0) + 1
    if (user !== null) request.session.set('counter', counter)
    return { user, counter: user === null ? 0 : counter, instance: identity.id }
  })

  // A slow lookup shared by every instance through the cache: computed once, served everywhere.
  app.get<{ Params: { id: string } }>('/api/lookup/:id', { config: { session: false } }, async (request) => {
    const id = request.params.id.slice(0, 64)
    const value = await app.cache.wrap(`lookup:${id}`, async () => {
      await new Promise((resolve) => setTimeout(resolve, 50))
      return { id, computedBy: identity.id, computedAt: new Date().toISOString() }
    }, { ttl: '30s' })
    return { ...value, servedBy: identity.id }
  })

  app.get('/api/whoami', { config: { session: false } }, async (request) => {
    return { ip: request.ip, ips: request.ips, protocol: request.protocol, host: request.host, instance: identity.id }
  })

  app.broadcast.websocket('/chat', {
    channels: () => ['chat'],
    onMessage: async (data, _socket, request) => {
      const text = data.toString('utf8').slice(0, 500)
      if (text.trim() === '') return
      await app.broadcast.publish('chat', { from: request.session.get('userId') ?? 'anonymous', text, instance: identity.id })
    }
  })

  return app
}
