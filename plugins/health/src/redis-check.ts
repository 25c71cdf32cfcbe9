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

/** A master's PING still unanswered, from an earlier run of the check. */
interface Unanswered {
  since: number
  answered: Promise<CheckObservation>
}

function unanswered (componentId: string, waited: number): CheckObservation {
  return { componentType: 'datastore', componentId, status: 'fail', output: `PING unanswered for ${Math.round(waited)}ms; not sent again`, observedValue: Math.round(waited * 100) / 100, observedUnit: 'ms' }
}

/**
 * Resolves when `signal` aborts (the check's timeout, or the server closing). The runner gives each
 * run a signal of its own, not aborted yet.
 */
async function aborted (signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => { signal.addEventListener('abort', () => resolve(), { once: true }) })
}

/**
 * PINGs every master. A master that stops answering without closing its link (a frozen host, a
 * black-holed network) would hold the whole check: its PING never settles, so the runner reports
 * the check stuck and never runs it again, and the slot map is never refreshed. Readiness then
 * failed for good, also after its replica had taken over. Each master's PING is bounded by the
 * check's signal instead, and a master whose PING is still unanswered gets no second one (no pile
 * on a hung link): it is reported failing at once, and the slot map is refreshed on every run, so
 * once the replica is promoted the client drops the frozen master (failing what waits on it) and
 * the check follows the new one.
 */
async function pingMasters (cluster: Cluster, signal: AbortSignal, waiting: Map<Redis, Unanswered>): Promise<CheckObservation[]> {
  const masters = cluster.nodes('master')
  if (masters.length === 0) throw new Error(`no Redis Cluster master is known (cluster status: ${cluster.status})`)
  const timedOut = aborted(signal)
  const observations = await Promise.all(masters.map(async (node) => {
    const componentId = `${String(node.options.host)}:${String(node.options.port)}`
    const earlier = waiting.get(node)
    if (earlier !== undefined) return unanswered(componentId, performance.now() - earlier.since)
    const entry: Unanswered = { since: performance.now(), answered: ping(node, cluster, componentId) }
    waiting.set(node, entry)
    // ping() never rejects.
    entry.answered.then(() => waiting.delete(node))
    return await Promise.race([entry.answered, timedOut.then(() => unanswered(componentId, performance.now() - entry.since))])
  }))
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
  // The masters whose PING this check sent is still unanswered (see pingMasters).
  const waiting = new Map<Redis, Unanswered>()
  return {
    ...options,
    check: async (signal) => client.isCluster ? await pingMasters(client as Cluster, signal, waiting) : [await ping(client as Redis, client)]
  }
}
