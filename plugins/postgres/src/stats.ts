import type { Cluster } from './cluster.js'
import type { Host } from './pools.js'
import type { DbStats, HostStats } from './types.js'
import { formatLsn } from './wal.js'

function hostStats (host: Host): HostStats {
  let state: HostStats['state']
  if (host.role === 'primary') state = host.reachable ? 'up' : 'unreachable'
  else state = host.quarantined ?? 'up'
  return {
    name: host.name,
    role: host.role,
    state,
    weight: host.weight,
    lsn: host.lsn === null ? null : formatLsn(host.lsn),
    lagMs: host.lagMs,
    lagBytes: host.lagBytes,
    failures: host.failures,
    reads: host.reads,
    pool: { total: host.pool.totalCount, idle: host.pool.idleCount, waiting: host.pool.waitingCount }
  }
}

/** A snapshot: nothing is queried, so it is safe to serve on a metrics route. */
export function stats (cluster: Cluster): DbStats {
  return {
    primary: hostStats(cluster.primary),
    replicas: cluster.replicas.map(hostStats),
    routes: { ...cluster.routes }
  }
}
