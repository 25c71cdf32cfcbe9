import type { FastifyInstance } from 'fastify'
import { invalid, resolveRedis, type RedisClient } from '@scaleout/core'
import { Broadcaster } from './broadcast.js'
import { normalise, PLUGIN } from './options.js'
import { addWebSocketRoute } from './route.js'
import type { Broadcast, BroadcastOptions } from './types.js'

/** How long `ready()` waits for the subscriber's first subscription (it keeps trying after). */
const READY_MS = 2000

export async function broadcastPlugin (fastify: FastifyInstance, options: BroadcastOptions): Promise<void> {
  const settings = normalise(options)
  if (fastify.hasDecorator('websocketServer')) {
    fastify.log.warn({ plugin: PLUGIN }, `${PLUGIN}: registered after @fastify/websocket, whose shutdown closes sockets first (code 1005); register ${PLUGIN} first for 1001`)
  }
  // Our own client only publishes, so auto-pipelining buys it nothing and costs latency: ioredis
  // holds each PUBLISH until setImmediate and, while one batch awaits its replies, queues the next
  // behind it (and the pipeline objects are garbage per batch). A caller's client is left as it is.
  const redis = await resolveRedis(fastify, settings.redis, { plugin: PLUGIN, autoPipelining: false, timeout: settings.timeout })
  const sharded = settings.sharded ?? redis.isCluster
  // ioredis prefixes a shard channel (SPUBLISH, SSUBSCRIBE) like a key: no message would then match
  // the channels the plugin listens for, and every one would be dropped without a word.
  if (sharded && keyPrefixOf(redis.client) !== '') {
    throw invalid(PLUGIN, 'redis', 'a client without keyPrefix for sharded pub/sub (ioredis would prefix the shard channels, and no message would be recognised): pass one without it, or sharded: false')
  }
  // ioredis sends SSUBSCRIBE only through a Cluster created with shardedSubscribers (one link per
  // master, re-subscribed when a master restarts). The core quits this connection on close.
  const subscriber = redis.duplicate(redis.isCluster && sharded ? { shardedSubscribers: true } : {})
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

  // preClose runs while the server still listens: sockets get 1001 before their TCP links go.
  fastify.addHook('preClose', async () => broadcaster.stopAccepting())
  fastify.addHook('onClose', async () => broadcaster.close())
  // Awaited when the app is ready, not here: plugins register one after another, so a wait here
  // would add this subscriber's wait to every other plugin's wait for an unreachable Redis.
  const started = broadcaster.start(READY_MS)
  fastify.addHook('onReady', async () => await started)
}

/** The key prefix ioredis adds to this client's keys (a Cluster's, too, is in its own options). */
function keyPrefixOf (client: RedisClient): string {
  return (client.options as { keyPrefix?: string }).keyPrefix ?? ''
}
