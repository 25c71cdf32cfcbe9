import { performance } from 'node:perf_hooks'
import { invalid, isRedisClient, toRedisError, type RedisClient } from '@scaleout/core'
import type { Cluster, Redis } from 'ioredis'
import { checkSettings, PLUGIN } from './options.js'
import type { CheckDefinition, CheckObservation, CheckOptions } from './types.js'

// `owner` is the client the core watches for connection errors (for a Cluster, the Cluster, not the
// node), so a refused password reads "authentication failed" instead of a generic stream error.
async function ping (node: Redis, owner: RedisClient, componentId?: string): Promise<CheckObservation> {
  const started = performance.now()
  const observation: CheckObservation = { componentType: 'datastore', ...(componentId === undefined ? {} : { componentId }) }
  try {
    await node.ping()
    observation.status = 'pass'
  } catch (err) {
    observation.status = 'fail'
    const coded = toRedisError(err, 0, owner)
    observation.output = (coded as { code?: string }).code === 'SCALEOUT_ERR_REDIS_AUTH' ? coded.message : (err as Error).message
  }
  observation.observedValue = Math.round((performance.now() - started) * 100) / 100
  observation.observedUnit = 'ms'
  return observation
}

async function pingMasters (cluster: Cluster): Promise<CheckObservation[]> {
  const masters = cluster.nodes('master')
  if (masters.length === 0) throw new Error(`no Redis Cluster master is known (cluster status: ${cluster.status})`)
  const observations = await Promise.all(masters.map(async (node) => await ping(node, cluster, `${String(node.options.host)}:${String(node.options.port)}`)))
  // A master that fails may have been replaced by its replica. The client learns that only from a
  // redirection, which PINGs sent to each node never get: without asking, it would PING the dead
  // master for good and readiness would never recover.
  if (observations.some((o) => o.status === 'fail')) cluster.refreshSlotsCache()
  return observations
}

/**
 * A ready-made check that PINGs Redis and reports the round trip in ms (`redis:responseTime`).
 * Given a Cluster it PINGs every master and reports one observation per node, so one unreachable
 * shard fails the check. The client stays yours: the check never connects or quits it.
 * Both arguments are checked here: a URL given for the client (the `redis` option's form) would
 * otherwise make a check that fails on every run, and options that are not an object, or a misspelt
 * one, would be dropped without a word.
 */
export function redisCheck (client: RedisClient, options: CheckOptions = {}): CheckDefinition {
  if (!isRedisClient(client)) throw invalid(PLUGIN, 'redisCheck() client', 'an ioredis Redis or Cluster client (a URL goes in the plugin\'s redis option)')
  checkSettings('redisCheck() options', options)
  return {
    ...options,
    check: async () => client.isCluster ? await pingMasters(client as Cluster) : [await ping(client as Redis, client)]
  }
}
