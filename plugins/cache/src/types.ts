import type { FastifyRequest } from 'fastify'
import type { Codec, RedisOption } from '@scaleout/core'

/** Milliseconds as a number, or a duration string such as `"500ms"`, `"30s"`, `"24h"`, `"7d"`. */
export type Duration = number | string

export interface L1Options {
  /** Most entries kept in process (least recently used go first). Default 1000. */
  maxEntries?: number
  /** Most bytes kept in process, counted as encoded size. Default 16 MiB. */
  maxBytes?: number
  /** Keeps L1 copies shorter than the entry's own TTL. Default: the entry's TTL. */
  ttl?: Duration
}

export interface BreakerOptions {
  /** Consecutive Redis failures that open the breaker. Default 5. */
  threshold?: number
  /** How long Redis is skipped once open, before one probe call. Default 1000 (ms). */
  cooldown?: Duration
}

export interface CacheOptions {
  /** How to reach Redis; see @scaleout/core. Default: `fastify.redis`, then REDIS_URL. */
  redis?: RedisOption
  /** Redis key prefix of this namespace (not a route prefix: the plugin adds no routes). Default `"scaleout:cache:"`. */
  prefix?: string
  /** Default time to live of entries. Default 60000 (ms). */
  ttl?: Duration
  /** Default stale window after `ttl` during which `wrap` serves the old value while refreshing. Default 0. */
  staleTtl?: Duration
  /** In-process tier in front of Redis: `false` to turn it off. Default `{ maxEntries: 1000, maxBytes: 16 MiB }`. */
  l1?: boolean | L1Options
  /** Upper bound of every Redis call. Default 250 (ms). */
  timeout?: Duration
  /**
   * How values are stored. Default JSON, which does NOT round-trip Date (comes back as an ISO string),
   * Buffer (an object with a `data` array), Map and Set (empty objects), BigInt (refused) or class
   * instances (plain objects). Its name goes into the key prefix.
   */
  codec?: Codec
  /** Largest encoded value accepted, in bytes. Default 1 MiB. */
  maxBytes?: number
  /** Schema version of your values, part of the key prefix: bump it when their shape changes. Default 1. */
  version?: number | string
  /** How long one instance may hold the fill lease of a key. Default `"10s"`. */
  lockTtl?: Duration
  /** How long other instances wait for the lease holder's value before computing it themselves. Default `"3s"`. */
  lockWait?: Duration
  /** Circuit breaker in front of Redis: `false` turns it off. */
  breaker?: false | BreakerOptions
  /**
   * How often each instance pings its invalidation channel, to catch a subscriber link that looks
   * open but delivers nothing; `false` turns it off. Default `"1s"`.
   */
  heartbeatInterval?: Duration | false
  /** Intervals with pings accepted and nothing heard before the link counts as lost. Default 2. */
  heartbeatMisses?: number
}

export interface SetOptions {
  /** Time to live; default: the plugin's `ttl`. */
  ttl?: Duration
  /** Stale window after `ttl` (used by `wrap`); default: the plugin's `staleTtl`. */
  staleTtl?: Duration
  /** Tags for `invalidateTags`. */
  tags?: string[]
}

export type WrapOptions = SetOptions

export interface TierStats {
  /** Reads of this tier that found a fresh value. */
  hits: number
  /** Reads of this tier that found none, or only a stale one (which `wrap` may serve: see `staleServed`). */
  misses: number
}

export interface CacheStats {
  l1: TierStats & { entries: number, bytes: number, evictions: number, enabled: boolean }
  l2: TierStats
  /** Stale values `wrap` returned (each a miss of its tier) while a refresh ran. */
  staleServed: number
  /** `wrap` calls that joined a computation already running in this process. */
  coalesced: number
  /** Times `fn` ran. */
  computed: number
  /** Times this instance waited for another instance's lease. */
  lockWaits: number
  /** Waits that reached `lockWait` and computed anyway. */
  lockTimeouts: number
  /** Background refreshes that failed (the stale value stayed). */
  refreshErrors: number
  /** Redis calls that hit `timeout`. */
  timeouts: number
  /** Redis calls that failed otherwise. */
  redisErrors: number
  /** Redis calls skipped because the breaker was open. */
  skipped: number
  /** Values `wrap` computed, and route responses, that were returned but not stored (too large, not encodable, overtaken: see the README). */
  storeErrors: number
  /** Entries in Redis or L1, and values `wrap` computed, that could not be decoded (garbage, another codec): treated as misses. */
  decodeErrors: number
  breaker: { state: 'closed' | 'open' | 'half-open', opens: number }
  /**
   * The invalidation subscription: L1 is bypassed while it is down and flushed when it comes back.
   * `rejected` counts the messages on its channel that were not this plugin's (ignored; logged at
   * most once a minute).
   */
  bus: { connected: boolean, messages: number, resyncs: number, rejected: number }
}

/** The shared cache, `fastify.cache`. */
export interface Cache {
  /** The value, or undefined on a miss, an expired entry or a Redis failure (never throws for Redis). */
  get: <T = unknown>(key: string) => Promise<T | undefined>
  /**
   * Stores a value in Redis and this L1 (encoded, decoded on its first hit there: every instance
   * serves the codec's decoding, never this object), and drops it from every other instance's L1.
   * Throws for bad input, and with the coded Redis error when the value was written but the other
   * instances could not be told; other Redis failures are logged.
   */
  set: (key: string, value: unknown, options?: SetOptions) => Promise<void>
  /** Removes a key everywhere. */
  del: (key: string) => Promise<void>
  /**
   * The cached value, or the result of `fn`, stored: on a miss as on a hit, the codec's decoding of
   * it (with JSON, a Date is an ISO string), not `fn`'s own object unless the codec cannot encode or
   * decode it. Concurrent calls for one key run `fn` once in this process, and a Redis lease makes
   * one instance compute while the others wait for its value.
   */
  wrap: <T>(key: string, fn: () => T | Promise<T>, options?: WrapOptions) => Promise<T>
  /** Invalidates every entry carrying one of these tags, at O(1) cost per tag. */
  invalidateTags: (tags: string[]) => Promise<void>
  /** Invalidates every entry of this namespace (a generation bump: no KEYS, no FLUSHALL). */
  clear: () => Promise<void>
  /** Counters since start. */
  stats: () => CacheStats
}

/** Route option `config.cache`: caches GET 200 responses of this route. */
export interface RouteCacheOptions {
  /** How long a response stays cached (and its Cache-Control max-age), at least 1 s. */
  ttl: Duration
  /**
   * Replaces the URL in the cache key (which stays scoped by method, route, protocol and host).
   * Return `undefined` or `null` to leave a request uncached. With `scope: 'private'` it must name
   * the user (for example the user id your authentication set).
   */
  key?: (request: FastifyRequest) => string | undefined | null
  /** Request headers the response depends on: part of the key and of the Vary header. */
  vary?: string[]
  /** Tags of the cached response, for `invalidateTags`. */
  tags?: string[]
  /**
   * `public` (default): requests with Authorization or a cookie are neither answered from the
   * cache nor stored. `private`: they are, under `key()`, which is then required and must name
   * the user; Cache-Control says `private`.
   */
  scope?: 'public' | 'private'
  /** Most live responses stored for this route (distinct keys); past it, responses go uncached. Default 10000. */
  maxEntries?: number
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The shared Redis cache (@scaleout/cache). */
    cache: Cache
  }
  interface FastifyContextConfig {
    /** Caches this route's GET 200 responses in the shared cache (@scaleout/cache). */
    cache?: RouteCacheOptions
  }
}
