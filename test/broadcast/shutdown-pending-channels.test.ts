import t from 'tap'
import fastifyWebsocket from '@fastify/websocket'
import WebSocket from 'ws'
import broadcast from '@scaleout/broadcast'
import { appFor, redisFor, waitUntil } from '../helpers/index.js'

interface RawSocket { remotePort: number, localPort: number, pause: () => void, resume: () => void }

function rawOf (ws: WebSocket): RawSocket {
  return (ws as unknown as { _socket: RawSocket })._socket
}

// A socket whose channels() had not answered when shutdown began was not attached yet, so the
// preClose step skipped it: it got @fastify/websocket's close without a code (1005) instead of
// 1001, and a client that never answered that close held app.close() for ws's 30 s close timeout,
// the very wait the 2 s grace exists to cut.
t.test('shutdown closes with 1001, and terminates if unanswered, a socket whose channels() is still running', async (t) => {
  const server = await redisFor(t)
  const app = appFor(t)
  await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
  await app.register(fastifyWebsocket)
  let asked = 0
  app.after(() => {
    app.broadcast.websocket('/ws', {
      channels: async () => {
        asked++
        return await new Promise<string[]>(() => {}) // an authorisation lookup that never answers
      }
    })
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/ws`
  const connect = async (): Promise<{ ws: WebSocket, closed: Promise<[number, string]> }> => {
    const ws = new WebSocket(url)
    const closed = new Promise<[number, string]>((resolve) => ws.once('close', (code, reason) => resolve([code, reason.toString()])))
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
    return { ws, closed }
  }
  const polite = await connect()
  const deaf = await connect()
  await waitUntil('both asked for their channels', () => asked === 2)
  t.equal(app.broadcast.stats().sockets, 0, 'neither attached')
  const serverSide = new Map<number, number>()
  for (const socket of app.websocketServer.clients) {
    const port = rawOf(socket).remotePort
    socket.once('close', (code: number) => { serverSide.set(port, code) })
  }
  const ports = { polite: rawOf(polite.ws).localPort, deaf: rawOf(deaf.ws).localPort }
  rawOf(deaf.ws).pause()

  await app.close()
  t.same(await polite.closed, [1001, 'server shutting down'])
  await waitUntil('the deaf one terminated', () => serverSide.size === 2, 10_000)
  t.equal(serverSide.get(ports.polite), 1001)
  t.equal(serverSide.get(ports.deaf), 1006, 'terminated: no answer to the close')
  rawOf(deaf.ws).resume()
  t.same(await deaf.closed, [1001, 'server shutting down'], 'what it had been sent was the 1001 close')
})
