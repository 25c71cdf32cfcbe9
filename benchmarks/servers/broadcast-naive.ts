import Fastify from 'fastify'
import fastifyWebsocket from '@fastify/websocket'
import { Redis } from 'ioredis'
import type { BroadcastBench } from '../broadcast-protocol.js'

/**
 * The pattern of the common guide: every WebSocket connection opens its own Redis subscriber, and
 * a publish goes through Redis even for the sockets of the publishing instance.
 */
export const build: BroadcastBench = async ({ redisUrl, connectionName }) => {
  const app = Fastify()
  const publisher = new Redis(redisUrl, { connectionName })
  const subscribers = new Set<Redis>()
  await app.register(fastifyWebsocket)
  app.get('/ws', { websocket: true }, (socket) => {
    const subscriber = new Redis(redisUrl, { connectionName })
    subscribers.add(subscriber)
    subscriber.on('message', (_channel: string, message: string) => socket.send(message))
    subscriber.subscribe('bench').catch(() => socket.close(1011))
    socket.once('close', () => {
      subscribers.delete(subscriber)
      subscriber.disconnect()
    })
  })
  app.addHook('onClose', async () => {
    for (const s of subscribers) s.disconnect()
    publisher.disconnect()
  })
  return {
    app,
    publish: async (message) => {
      await publisher.publish('bench', JSON.stringify({ channel: 'bench', data: message }))
      return true
    }
  }
}
