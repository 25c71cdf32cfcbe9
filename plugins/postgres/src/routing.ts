import type { Cluster } from './cluster.js'
import { run, withClient } from './execute.js'
import type { Host } from './pools.js'
import { CLOCK_SKEW_MS, type Token } from './token.js'
import type { RouteReason } from './types.js'
import { parseLsn } from './wal.js'

export interface Route {
  readonly host: Host
  readonly reason: RouteReason
}

/**
 * Smooth weighted round robin (as nginx does it): over any window the shares follow the weights
 * exactly, without the clumps a random pick makes.
 */
export function pickWeighted (hosts: readonly Host[]): Host | null {
  let total = 0
  let best: Host | null = null
  for (const host of hosts) {
    host.current += host.weight
    total += host.weight
    if (best === null || host.current > best.current) best = host
  }
  if (best !== null) best.current -= total
  return best
}

/**
 * The position a read must see. A token is never trusted beyond the primary's real position: when
 * the sampler read the primary after this instance first read the token (so after its write had
 * committed), and past its date (clock skew allowed for), and found the primary behind the token,
 * the token cannot be true (forged with a leaked secret, from a rebuilt cluster, or the largest
 * position of a write whose outcome was unknown), and the primary's position stands in for it. The
 * date alone, by another instance's clock, could make a fresh token look old when that clock is
 * slow (its write then missed on a replica); dated ahead of the first read, it counts as of then.
 */
export function required (cluster: Cluster, token: Token): bigint {
  const seen = cluster.primary.lsn
  const sampledAt = cluster.primarySeenAt
  if (seen !== null && token.lsn > seen && sampledAt > token.seenAt && sampledAt > Math.min(token.issuedAt, token.seenAt) + CLOCK_SKEW_MS) return seen
  return token.lsn
}

/**
 * Where a read goes: a replica that has replayed `need` (waiting up to replicaWait for one), else the
 * primary. A promise only when it waits: every other read is routed without a tick.
 */
export function route (cluster: Cluster, need: bigint | null, afterWrite: boolean, deadline: number): Route | Promise<Route> {
  if (afterWrite) return { host: cluster.primary, reason: 'afterWrite' }
  if (cluster.replicas.length === 0) return { host: cluster.primary, reason: 'noReplica' }
  const candidates = cluster.inRotation()
  if (candidates.length === 0) return { host: cluster.primary, reason: 'quarantined' }
  const ready = caughtUp(candidates, need)
  if (ready.length > 0) return { host: pickWeighted(ready) as Host, reason: 'replica' }
  // need is not null here: with no token every candidate is ready.
  if (cluster.settings.replicaWait > 0) return waitThenRoute(cluster, pickWeighted(candidates) as Host, need as bigint, deadline)
  return { host: cluster.primary, reason: 'tokenAhead' }
}

async function waitThenRoute (cluster: Cluster, host: Host, need: bigint, deadline: number): Promise<Route> {
  // At most half of what is left: the primary keeps the other half if the replica never catches up.
  const now = Date.now()
  if (await waitFor(cluster, host, need, Math.min(now + cluster.settings.replicaWait, now + (deadline - now) / 2))) return { host, reason: 'caughtUpWait' }
  return { host: cluster.primary, reason: 'tokenAhead' }
}

/** Replicas that have replayed `need` (all of them with no token). In rotation means sampled: `lsn` is known. */
function caughtUp (hosts: readonly Host[], need: bigint | null): Host[] {
  return need === null ? [...hosts] : hosts.filter((h) => (h.lsn as bigint) >= need)
}

/** Another place for a read that failed on `failed`: a replica that needs no wait, else the primary. */
export function fallback (cluster: Cluster, failed: Host, need: bigint | null): Host {
  return pickWeighted(caughtUp(cluster.inRotation(), need).filter((h) => h !== failed)) ?? cluster.primary
}

const PROBE_PAUSE_MS = 5
const probes = new WeakMap<Host, Promise<void>>()

/**
 * Waits until `host` has replayed `need`, asking it directly (the sampler's view is up to an
 * interval old). Concurrent waiters on one host share each probe.
 */
async function waitFor (cluster: Cluster, host: Host, need: bigint, until: number): Promise<boolean> {
  for (;;) {
    if (host.lsn !== null && host.lsn >= need) return true
    if (Date.now() >= until || !host.inRotation || cluster.closed) return false
    let probe = probes.get(host)
    if (probe === undefined) {
      probe = probeReplay(cluster, host, until).finally(() => { probes.delete(host) })
      probes.set(host, probe)
    }
    await probe
  }
}

async function probeReplay (cluster: Cluster, host: Host, until: number): Promise<void> {
  const before = host.lsn
  const budget = cluster.settings.timeout
  try {
    const { rows } = await withClient(host, until, budget, async (client) => await run<{ lsn: string | null }>(host, client, 'SELECT pg_last_wal_replay_lsn()::text AS lsn', undefined, until, { write: false, budget }))
    // As the sampler does: the latest answer stands, even a lower one (see Sampler.replicaSampled).
    const lsn = parseLsn(rows[0]?.lsn)
    if (lsn !== null) host.lsn = lsn
  } catch {
    // The wait ends at `until` anyway; the sampler and the request path count failures.
  }
  if (host.lsn === before) await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(PROBE_PAUSE_MS, until - Date.now()))))
}
