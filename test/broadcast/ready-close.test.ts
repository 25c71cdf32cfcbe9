import t from 'tap'
import Fastify from 'fastify'
import fastifyRedis from '@fastify/redis'
import websocket from '@fastify/websocket'
import broadcast from '@scaleout/broadcast'
import { adminFor, logSink, redisFor, waitUntil } from '../helpers/index.js'

// Issue 19: quick ready()/close() cycles (a test suite, a CLI that boots the app to print its
// routes) logged a Redis warning. The set-up is the README's: a socket route, a server-side
// handler removed in a later onClose hook, @fastify/websocket registered after broadcast.
t.test('quick ready()/close() cycles log no warning or error and leave no connection behind', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  for (let i = 0; i < 10; i++) {
    const sink = logSink('debug')
    const app = Fastify({ logger: sink.logger })
    await app.register(broadcast, { redis: server.url, heartbeatInterval: '100ms' })
    await app.register(websocket)
    app.broadcast.websocket('/live', { channels: () => ['news'] })
    const off = app.broadcast.subscribe('cache:invalidate', () => undefined)
    app.addHook('onClose', async () => off())
    await app.ready()
    await app.close()
    // Every connection of the app gone from Redis: any error of its closing has been emitted by now.
    await waitUntil('the app\'s connections closed', async () => (await admin.client('LIST') as string).trim().split('\n').length === 1)
    t.same(sink.lines.filter((l) => l.level >= 40), [], `cycle ${i}: nothing at warn or above`)
  }
})

t.test('the same with the guide\'s shared @fastify/redis client (broadcast subscribes on a duplicate of it)', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  for (let i = 0; i < 10; i++) {
    const sink = logSink('debug')
    const app = Fastify({ logger: sink.logger })
    await app.register(fastifyRedis, { url: server.url })
    await app.register(broadcast, { heartbeatInterval: '100ms' })
    await app.register(websocket)
    app.broadcast.websocket('/live', { channels: () => ['news'] })
    await app.ready()
    await app.close()
    await waitUntil('the app\'s connections closed', async () => (await admin.client('LIST') as string).trim().split('\n').length === 1)
    t.same(sink.lines.filter((l) => l.level >= 40), [], `cycle ${i}: nothing at warn or above`)
  }
})
