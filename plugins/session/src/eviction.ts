import { bounded, isUnavailable, type RedisClient } from '@scaleout/core'
import type { FastifyInstance } from 'fastify'
import type { Cluster, Redis } from 'ioredis'
import { PLUGIN } from './options.js'
import type { Store } from './store.js'

// "Log out everywhere" finds a user's sessions through the user index, one key. Under any
// eviction policy Redis may remove that key before the sessions it lists (it is used less often
// than they are, and it has an expiry, as they do), after which destroyAllFor finds nothing and a
// stolen cookie stays valid. Nothing we write can stop an evicting Redis from doing that, so the
// index-reading calls refuse to run on one: eviction needs a maxmemory and a policy other than
// noeviction.

/** What the Redis nodes say about eviction: `evicting` names a policy that may evict our keys. */
export interface EvictionCheck {
  evicting: string | null
  /** CONFIG GET was refused (ACL, or a managed Redis that hides it): the policy is unknown. */
  unknown: boolean
}

/** CONFIG GET's reply (name, value, name, value...) as a Map. */
function settingsOf (reply: unknown): Map<string, string> {
  const list = ([] as unknown[]).concat(reply).map(String)
  const settings = new Map<string, string>()
  for (let i = 0; i + 1 < list.length; i += 2) settings.set(list[i] as string, list[i + 1] as string)
  return settings
}

/**
 * Until a Cluster is ready it knows only the nodes it was given (none at all before a lazyConnect
 * client's first command), which need not be every master: waits, within `timeout`, for its map of
 * slots, connecting a client that waits for its first command.
 */
async function clusterReady (cluster: Cluster, timeout: number): Promise<void> {
  if (cluster.status === 'ready') return
  let onReady!: () => void
  const ready = new Promise<void>((resolve) => { onReady = resolve })
  cluster.once('ready', onReady)
  if (cluster.status === 'wait') cluster.connect().catch(() => {})
  try {
    await bounded(ready, timeout, cluster)
  } finally {
    cluster.removeListener('ready', onReady)
  }
}

/** Reads `maxmemory` and `maxmemory-policy` on every node that holds our keys (every master). */
export async function checkEviction (client: RedisClient, timeout: number): Promise<EvictionCheck> {
  if (client.isCluster) await clusterReady(client as Cluster, timeout)
  const nodes = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis]
  let unknown = false
  for (const reply of await Promise.all(nodes.map(async (node) =>
    await bounded(node.call('config', 'get', 'maxmemory*'), timeout, client).catch((err: unknown) => err)))) {
    if (reply instanceof Error) {
      // Redis being away is the caller's problem, reported as such; a refused CONFIG is not.
      if (isUnavailable(reply) || (reply as { code?: unknown }).code === 'SCALEOUT_ERR_REDIS_AUTH') throw reply
      unknown = true
      continue
    }
    const settings = settingsOf(reply)
    const policy = settings.get('maxmemory-policy')
    if (settings.get('maxmemory') !== '0' && policy !== 'noeviction' && policy !== undefined) return { evicting: policy, unknown }
  }
  return { evicting: null, unknown }
}

/**
 * Says at start-up, loudly, that "log out everywhere" will refuse on this Redis. A client the app
 * passed may still be connecting when the plugin registers: it is checked once it is ready.
 */
export async function warnIfEvicting (fastify: FastifyInstance, store: Store, timeout: number): Promise<void> {
  const { client } = store
  if (client.status === 'ready') {
    await logIfEvicting(fastify, client, timeout)
    return
  }
  let checking: Promise<void> | undefined
  const onReady = (): void => { checking = logIfEvicting(fastify, client, timeout) }
  client.once('ready', onReady)
  fastify.addHook('onClose', async () => {
    client.removeListener('ready', onReady)
    await checking
  })
}

async function logIfEvicting (fastify: FastifyInstance, client: RedisClient, timeout: number): Promise<void> {
  let evicting: string | null = null
  try {
    evicting = (await checkEviction(client, timeout)).evicting
  /* c8 ignore next 3 -- Redis going away between its ready event and this one call */
  } catch {
    // Requests report an outage themselves; listFor and destroyAllFor check again on every call.
  }
  if (evicting !== null) {
    fastify.log.error({ plugin: PLUGIN, policy: evicting }, `${PLUGIN}: Redis may evict keys (maxmemory-policy ${evicting}): listFor and destroyAllFor will refuse with SCALEOUT_ERR_SESSION_EVICTION; set maxmemory-policy noeviction`)
  }
}
