import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { resolveRedis } from '@scaleout/core'
import { Broadcaster } from './broadcast.js'
import { normalise, PLUGIN } from './options.js'
import { addWebSocketRoute } from './route.js'
import type { Broadcast, BroadcastOptions } from './types.js'

async function broadcastPlugin (fastify: FastifyInstance, options: BroadcastOptions): Promise<void> {
  const settings = normalise(options)
  if (fastify.hasDecorator('websocketServer')) {
    fastify.log.warn({ plugin: PLUGIN }, `${PLUGIN}: registered after @fastify/websocket, whose shutdown closes sockets first (code 1005); register ${PLUGIN} first for 1001`)
  }
  const redis = await resolveRedis(fastify, settings.redis, { plugin: PLUGIN })
  const sharded = settings.sharded ?? redis.isCluster
  // ioredis sends SSUBSCRIBE only through a Cluster created with shardedSubscribers (one link per
  // master, re-subscribed when a master restarts). The core quits this connection on close.
  const subscriber = redis.duplicate(redis.isCluster && sharded ? { shardedSubscribers: true } : {})
  // Our own publisher only publishes, so auto-pipelining buys it nothing and costs latency: ioredis
  // holds each PUBLISH until setImmediate and, while one batch awaits its replies, queues the next
  // behind it (and the pipeline objects are garbage per batch). A caller's client is left as it is.
  if (redis.owned) redis.client.options.enableAutoPipelining = false
  const broadcaster = new Broadcaster(settings, redis.client, redis.owned, subscriber, sharded, fastify.log)

  const api: Broadcast = {
    instanceId: broadcaster.instanceId,
    sharded,
    // Bound, not wrapped: publish is the hot path, and every async layer costs a promise.
    publish: broadcaster.publish.bind(broadcaster),
    subscribe: broadcaster.subscribe.bind(broadcaster),
    attach: broadcaster.attach.bind(broadcaster),
    websocket: (path, routeOptions) => addWebSocketRoute(fastify, broadcaster, path, routeOptions),
    stats: () => broadcaster.stats()
  }
  fastify.decorate('broadcast', Object.freeze(api))
  broadcaster.start()

  // preClose runs while the server still listens: sockets get 1001 before their TCP links go.
  fastify.addHook('preClose', async () => broadcaster.stopAccepting())
  fastify.addHook('onClose', async () => await broadcaster.close())
}

/** Cross-instance pub/sub over Redis, with a WebSocket bridge for @fastify/websocket. */
export const broadcast = fp(broadcastPlugin, { fastify: '5.x', name: PLUGIN })
export default broadcast

export { InvalidChannelError, TooManyChannelsError, InvalidHandlerError, ClosedError, WebSocketMissingError, OriginRefusedError } from './errors.js'
export type * from './types.js'
