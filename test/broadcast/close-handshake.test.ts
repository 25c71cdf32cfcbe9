import t from 'tap'
import type WebSocket from 'ws'
import { redisFor, waitUntil } from '../helpers/index.js'
import { Client, startInstance, waitSubscribed } from './helpers.js'

interface RawSocket { localPort: number, remotePort: number, pause: () => void, resume: () => void }

function rawOf (ws: WebSocket): RawSocket {
  return (ws as unknown as { _socket: RawSocket })._socket
}

// Shutdown closes every socket with 1001 and gives the client time to answer the close handshake;
// only one that has not answered is terminated. Seen from the server's end of each socket: the
// close code it reports is the code of the client's answering close frame, or 1006 when the link
// went without one. (That the wait is bounded, so one dead client cannot hold the shutdown, is
// websocket.test.ts's "a client that never answers the close handshake is terminated".)
t.test('shutdown: a client that answers the 1001 close handshake is closed cleanly, one that never answers is terminated', async (t) => {
  const server = await redisFor(t)
  const instance = await startInstance(t, { redis: server.url })
  const polite = await Client.connect(instance.wsUrl, ['bye'])
  const deaf = await Client.connect(instance.wsUrl, ['bye'])
  await waitSubscribed([instance], 2)
  const ports = { polite: rawOf(polite.ws).localPort, deaf: rawOf(deaf.ws).localPort }
  const serverSide = new Map<number, { code: number, reason: string }>()
  t.equal(instance.app.websocketServer.clients.size, 2)
  for (const socket of instance.app.websocketServer.clients) {
    const port = rawOf(socket).remotePort
    socket.once('close', (code: number, reason: Buffer) => { serverSide.set(port, { code, reason: reason.toString() }) })
  }
  // It never reads again: the close frame waits in its buffer, unanswered.
  rawOf(deaf.ws).pause()

  await instance.app.close()
  await waitUntil('both server ends closed', () => serverSide.size === 2, 5000)
  t.same(serverSide.get(ports.polite), { code: 1001, reason: 'server shutting down' }, 'the client answered with 1001: handshake completed')
  t.same(serverSide.get(ports.deaf), { code: 1006, reason: '' }, 'no answer: terminated')
  t.equal(await polite.closed, 1001)
  t.equal(polite.closeReason, 'server shutting down')
  rawOf(deaf.ws).resume()
  t.equal(await deaf.closed, 1001, 'it still reads the close frame from its buffer')
  t.equal(instance.app.broadcast.stats().sockets, 0)
})
