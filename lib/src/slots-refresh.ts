import type { FastifyInstance } from 'fastify'
import type { Cluster } from 'ioredis'

// ioredis 6.1 stopped rereading a Cluster's slot map on a timer by default (slotsRefreshInterval,
// 5000 ms before). Without it, the failover tests' calls still failed 15 s after a master was
// killed. The Cluster clients the plugins create set it again (redis-defaults.ts); one the app
// passes is the app's to configure, so registration says so once per client, whichever plugins
// share it.

const warned = new WeakSet<object>()

/** Warns, once per client, when a Cluster client the app passed never rereads its slot map. */
export function warnIfNoSlotsRefresh (fastify: FastifyInstance, plugin: string, client: Cluster): void {
  const interval = client.options.slotsRefreshInterval
  if ((interval ?? 0) > 0 || warned.has(client)) return
  warned.add(client)
  fastify.log.warn({ plugin },
    `${plugin}: this Redis Cluster client never rereads its slot map on a timer (slotsRefreshInterval is not set; ioredis 6.1 turned that off by default), so calls for a master's slots can go on failing after it fails over; give the client slotsRefreshInterval: 5000, as the plugins' own Cluster clients have`)
}
