import type { Cluster, ClusterOptions, Redis, RedisOptions, SentinelAddress } from 'ioredis'

/** Any ioredis client a plugin can work with. */
export type RedisClient = Redis | Cluster

/** `{ cluster: ['redis://host:port', ...], ...ClusterOptions }`: we create the Cluster and own it. */
export interface ClusterConnection extends ClusterOptions {
  cluster: string[]
}

/** `{ sentinels: [{ host, port }], name: 'mymaster', ...RedisOptions }`: we create the client and own it. */
export interface SentinelConnection extends RedisOptions {
  sentinels: Array<Partial<SentinelAddress>>
  name: string
}

/** `{ url: 'redis://...', ...RedisOptions }`: a URL with extra client options; we own the client. */
export interface UrlConnection extends RedisOptions {
  url: string
}

/**
 * How a plugin reaches Redis. A client instance stays the caller's (never quit by us); a URL or
 * a connection object makes a client that the plugin owns and quits on close.
 */
export type RedisOption = RedisClient | string | ClusterConnection | SentinelConnection | UrlConnection

/** ioredis options for a duplicate: RedisOptions for a standalone client, ClusterOptions for a Cluster. */
export type DuplicateOverrides = Partial<RedisOptions> | Partial<ClusterOptions>

export interface ResolvedRedis {
  /** The client to send commands with. */
  readonly client: RedisClient
  /** True when the plugin created the client and therefore quits it on close. */
  readonly owned: boolean
  /** True for a Redis Cluster client. */
  readonly isCluster: boolean
  /** Where the client came from, for log lines. */
  readonly source: 'option' | 'url' | 'cluster' | 'sentinel' | '@fastify/redis' | 'REDIS_URL'
  /**
   * A second connection with the same settings (for SUBSCRIBE, which blocks a connection), with
   * optional ioredis overrides (e.g. `{ shardedSubscribers: true }` for SSUBSCRIBE on a Cluster).
   * It is always ours: it is quit when the Fastify instance closes.
   */
  duplicate: (overrides?: DuplicateOverrides) => RedisClient
}
