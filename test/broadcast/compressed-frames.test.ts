import { createRequire } from 'node:module'
import t from 'tap'
import fastifyWebsocket from '@fastify/websocket'
import WebSocket from 'ws'
import broadcast from '@scaleout/broadcast'
import { appFor, redisFor, waitUntil } from '../helpers/index.js'

// ws's own zlib: the CommonJS module object, whose functions ws looks up at each call.
const zlib = createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib')

// With permessage-deflate on (an @fastify/websocket option), the length a frame announces is its
// compressed length: 32 MiB of zeros is about 32 KB on the wire, under maxBytes. ws inflated such
// a frame whole, up to its server-wide maxPayload (100 MiB by default), and only then refused it:
// a client could make the server hold a thousand times what it sent, per frame and per socket.

t.test('a compressed frame that inflates past maxBytes is refused while inflating, never inflated whole', async (t) => {
  // Counts what every inflate stream of the process (the server's and the client's) puts out.
  let inflated = 0
  const create = zlib.createInflateRaw
  // Node defines it read-only but configurable.
  const replace = (value: typeof create): void => { Object.defineProperty(zlib, 'createInflateRaw', { value }) }
  replace((options) => {
    const stream = create(options)
    stream.on('data', (chunk: Buffer) => { inflated += chunk.length })
    return stream
  })
  t.teardown(() => replace(create))

  const server = await redisFor(t)
  const app = appFor(t)
  await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
  await app.register(fastifyWebsocket, { options: { perMessageDeflate: true } })
  const received: number[] = []
  app.after(() => {
    app.broadcast.websocket('/ws', { channels: () => [], onMessage: (data) => { received.push(data.length) } })
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/ws`

  const ws = new WebSocket(url, { perMessageDeflate: true })
  ws.on('error', () => {})
  await new Promise((resolve) => ws.once('open', resolve))
  t.match(ws.extensions, /permessage-deflate/, 'compression negotiated')
  const closed = new Promise<number>((resolve) => ws.once('close', resolve))
  ws.send(Buffer.alloc(32 * 1024 * 1024), { compress: true })
  t.equal(await closed, 1009)
  t.ok(inflated < 1024 * 1024, `the server stopped inflating near maxBytes (inflated ${inflated} bytes)`)

  // A compressed message within the limit still arrives whole.
  const ok = new WebSocket(url, { perMessageDeflate: true })
  t.teardown(() => ok.terminate())
  await new Promise((resolve) => ok.once('open', resolve))
  ok.send(Buffer.alloc(65_536), { compress: true })
  await waitUntil('the 64 KiB message', () => received.length === 1)
  t.same(received, [65_536])
})
