import { performance } from 'node:perf_hooks'
import type { RedisClient } from '@scaleout/core'
import type { Cluster, Redis } from 'ioredis'
import type { CheckDefinition, CheckObservation, CheckOptions } from './types.js'

async function ping (node: Redis, componentId?: string): Promise<CheckObservation> {
  const started = performance.now()
  const observation: CheckObservation = { componentType: 'datastore', ...(componentId === undefined ? {} : { componentId }) }
  try {
    await node.ping()
    observation.status = 'pass'
  } catch (err) {
    observation.status = 'fail'
    observation.output = (err as Error).message
  }
  observation.observedValue = Math.round((performance.now() - started) * 100) / 100
  observation.observedUnit = 'ms'
  return observation
}

async function pingMasters (cluster: Cluster): Promise<CheckObservation[]> {
  const masters = cluster.nodes('master')
  if (masters.length === 0) throw new Error(`no Redis Cluster master is known (cluster status: ${cluster.status})`)
  return await Promise.all(masters.map(async (node) => await ping(node, `${String(node.options.host)}:${String(node.options.port)}`)))
}

/**
 * A ready-made check that PINGs Redis and reports the round trip in ms (`redis:responseTime`).
 * Given a Cluster it PINGs every master and reports one observation per node, so one unreachable
 * shard fails the check. The client stays yours: the check never connects or quits it.
 */
export function redisCheck (client: RedisClient, options: CheckOptions = {}): CheckDefinition {
  return {
    ...options,
    check: async () => client.isCluster ? await pingMasters(client as Cluster) : [await ping(client as Redis)]
  }
}
