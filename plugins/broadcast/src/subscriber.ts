import type { FastifyInstance } from 'fastify'
import type { Cluster } from 'ioredis'
import { closeClient, type RedisClient, type ResolvedRedis } from '@scaleout/core'
import { PLUGIN } from './options.js'

/**
 * The subscriber connection. Standalone (and classic pub/sub on a Cluster): the core's
 * `duplicate()`, quit by the core. Sharded on a Cluster: ioredis sends SSUBSCRIBE only through a
 * Cluster created with `shardedSubscribers: true` (one subscriber link per master, re-subscribed
 * when a master restarts), an option `duplicate()` without arguments cannot set, so we duplicate
 * with it ourselves and quit that copy in `close`.
 */
export function subscriberFor (fastify: FastifyInstance, redis: ResolvedRedis, sharded: boolean): { client: RedisClient, close: () => Promise<void> } {
  if (!(redis.isCluster && sharded)) return { client: redis.duplicate(), close: async () => undefined }
  const client = (redis.client as Cluster).duplicate([], { shardedSubscribers: true })
  client.on('error', (err: Error) => fastify.log.warn({ err, plugin: PLUGIN }, `${PLUGIN}: Redis subscriber error`))
  return { client, close: async () => await closeClient(client) }
}
