import Fastify from 'fastify'
import fastifyWebsocket from '@fastify/websocket'
import broadcast from '@scaleout/broadcast'
import type { BroadcastBench } from '../broadcast-protocol.js'

/** @scaleout/broadcast: two Redis connections per instance, local fan-out to the sockets of /ws. */
export const build: BroadcastBench = async ({ redisUrl, connectionName }) => {
  const app = Fastify()
  await app.register(broadcast, { redis: { url: redisUrl, connectionName } })
  await app.register(fastifyWebsocket)
  app.after(() => app.broadcast.websocket('/ws', { channels: () => ['bench'] }))
  return {
    app,
    publish: async (message) => (await app.broadcast.publish('bench', message)).remote
  }
}
