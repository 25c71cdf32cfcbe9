import Fastify from 'fastify'
import fastifyWebsocket from '@fastify/websocket'
import type { WebSocket } from 'ws'
import type { BroadcastBench } from '../broadcast-protocol.js'

/** Bare Fastify + @fastify/websocket: one instance, in-process fan-out, no Redis. The floor. */
export const build: BroadcastBench = async () => {
  const app = Fastify()
  const sockets = new Set<WebSocket>()
  await app.register(fastifyWebsocket)
  app.get('/ws', { websocket: true }, (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  return {
    app,
    publish: async (message) => {
      const frame = Buffer.from(JSON.stringify({ channel: 'bench', data: message }))
      for (const socket of sockets) socket.send(frame, { binary: false })
      return true
    }
  }
}
