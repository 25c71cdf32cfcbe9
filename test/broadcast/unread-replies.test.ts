import t from 'tap'
import fastifyWebsocket from '@fastify/websocket'
import WebSocket from 'ws'
import broadcast from '@scaleout/broadcast'
import { appFor, redisFor, waitUntil } from '../helpers/index.js'

// A socket's buffer was checked only before a broadcast message was sent to it. A client that
// never read but kept sending messages that onMessage answers (the README's ping/pong) made the
// server buffer every answer, without bound, as long as its channels were quiet. (Ping frames are
// not a way round: ws itself terminates a socket that leaves too many of its pongs unsent.)

const LIMIT = 64 * 1024
const MESSAGE = 16 * 1024
// Well past what the loopback's kernel buffers on both sides absorb before ws starts buffering.
const SENT_AT_MOST = 48 * 1024 * 1024

t.test('a client that sends to onMessage but never reads its answers is dropped past maxBufferedBytes', async (t) => {
  const server = await redisFor(t)
  const app = appFor(t)
  await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
  await app.register(fastifyWebsocket)
  app.after(() => {
    app.broadcast.websocket('/ws', { channels: () => ['quiet'], maxBufferedBytes: LIMIT, onMessage: (data, socket) => { socket.send(data) } })
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const serverSockets = (): Set<WebSocket> => app.websocketServer.clients as Set<WebSocket>

  const client = new WebSocket(`ws://127.0.0.1:${(app.server.address() as { port: number }).port}/ws`)
  t.teardown(() => client.terminate())
  client.on('error', () => {})
  await new Promise((resolve) => client.once('open', resolve))
  await waitUntil('the socket attached', () => app.broadcast.stats().sockets === 1)
  // Stop reading: the kernel buffers fill, then ws buffers the answers on the server side.
  ;(client as unknown as { _socket: { pause: () => void } })._socket.pause()
  let peak = 0
  for (let sent = 0; sent < SENT_AT_MOST && serverSockets().size > 0; sent += 64 * MESSAGE) {
    for (let i = 0; i < 64; i++) client.send(Buffer.alloc(MESSAGE))
    await new Promise((resolve) => setImmediate(resolve))
    // Once closing, ws counts what is sent to a socket in bufferedAmount without buffering it.
    for (const socket of serverSockets()) if (socket.readyState === WebSocket.OPEN) peak = Math.max(peak, socket.bufferedAmount)
  }
  await waitUntil('the server dropped the client', () => serverSockets().size === 0, 5000)
  t.ok(peak <= LIMIT + MESSAGE + 64, `the server buffered at most maxBufferedBytes and one answer (peak ${peak})`)
  t.match(app.broadcast.stats(), { sockets: 0, listeners: 0, slowDropped: 1 })
})
