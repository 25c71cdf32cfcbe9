import type { ClusterOptions, RedisOptions } from 'ioredis'

// Defaults for the clients we create. A service behind a load balancer must answer (or fail)
// quickly when Redis is away, so nothing here waits without bound.

/** Backoff for reconnects: 100 ms, 200, 400, ... capped at 2 s, forever. */
export function reconnectDelay (attempt: number): number {
  return Math.min(100 * 2 ** Math.max(0, attempt - 1), 2000)
}

export const redisDefaults: RedisOptions = {
  // Many concurrent requests share one connection; batching their commands per tick is free speed.
  enableAutoPipelining: true,
  // A command that gets no answer (server paused, network black hole) fails after this long.
  commandTimeout: 1000,
  connectTimeout: 2000,
  // No offline queue: while disconnected a command fails at once instead of piling up in memory
  // and answering the request minutes later.
  enableOfflineQueue: false,
  // A command in flight when the connection drops is retried once after reconnecting, then fails.
  maxRetriesPerRequest: 1,
  retryStrategy: reconnectDelay
}

export const clusterDefaults: ClusterOptions = {
  enableAutoPipelining: true,
  enableOfflineQueue: false,
  clusterRetryStrategy: reconnectDelay,
  // Without this a restarted node is only noticed through MOVED errors.
  clusterNodeRetryStrategy: reconnectDelay,
  // Reread the slot map every 5 s, as ioredis did by default before 6.1 (which turned it off):
  // without it, the failover tests' calls still failed 15 s after a master was killed.
  slotsRefreshInterval: 5000,
  redisOptions: {
    commandTimeout: 1000,
    connectTimeout: 2000,
    maxRetriesPerRequest: 1
  }
}
