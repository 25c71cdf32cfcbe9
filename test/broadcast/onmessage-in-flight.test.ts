import t from 'tap'
import fastifyWebsocket from '@fastify/websocket'
import WebSocket from 'ws'
import broadcast from '@scaleout/broadcast'
import { appFor, redisFor, waitUntil } from '../helpers/index.js'

// Every frame a client sent started an onMessage call at once, however many were still running: a
// client sending faster than onMessage finished (an onMessage awaiting a publish while Redis is slow,
// a database) made the server hold every frame and every call's promise, without bound. At most
// 32 calls now run per socket; past that, frames wait in order and the socket stops reading (ws's
// pause: TCP backpressure reaches the client) until one finishes.
t.test('a socket has at most 32 onMessage calls running; the others wait, in order, and the socket stops reading', async (t) => {
  const server = await redisFor(t)
  const app = appFor(t)
  await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
  await app.register(fastifyWebsocket)
  let running = 0
  let most = 0
  const started: string[] = []
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  app.after(() => {
    app.broadcast.websocket('/ws', {
      channels: () => [],
      pingInterval: false,
      onMessage: async (data) => {
        started.push(data.toString())
        most = Math.max(most, ++running)
        await gate
        running--
      }
    })
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const client = new WebSocket(`ws://127.0.0.1:${(app.server.address() as { port: number }).port}/ws`)
  t.teardown(() => client.terminate())
  await new Promise<void>((resolve, reject) => { client.once('open', () => resolve()); client.once('error', reject) })
  const serverSocket = [...app.websocketServer.clients][0] as WebSocket
  const frames = Array.from({ length: 100 }, (_, i) => String(i))
  for (const frame of frames) client.send(frame)
  await waitUntil('32 calls running', () => running === 32, 10_000, 5)
  await waitUntil('the socket stops reading', () => serverSocket.isPaused, 10_000, 5)
  t.equal(started.length, 32, 'no 33rd call while 32 run')
  t.same(started, frames.slice(0, 32))
  release()
  await waitUntil('every frame handled', () => started.length === 100 && running === 0, 10_000, 5)
  t.same(started, frames, 'in the order they were sent')
  t.equal(most, 32)
  await waitUntil('reading again', () => !serverSocket.isPaused, 10_000, 5)
  t.equal(serverSocket.readyState, WebSocket.OPEN)
})
