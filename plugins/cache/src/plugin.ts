import type { FastifyInstance } from 'fastify'
import { resolveRedis } from '@scaleout/core'
import { Breaker } from './breaker.js'
import { Bus } from './bus.js'
import { SharedCache } from './cache.js'
import { Coherence, Generation } from './coherence.js'
import { Counters } from './counters.js'
import { Guard } from './guard.js'
import { L1 } from './l1.js'
import { normalize, PLUGIN } from './options.js'
import { routeCaching } from './route.js'
import { Store } from './store.js'
import type { Cache, CacheOptions } from './types.js'

// How long the app's ready() waits for the first SUBSCRIBE before it carries on with L1 bypassed.
const SUBSCRIBE_READY_MS = 2000

/** Checks the options, then builds the tiers and their coherence and decorates `fastify.cache`. */
export async function cachePlugin (fastify: FastifyInstance, options: CacheOptions): Promise<void> {
  const o = normalize(options)
  const resolved = await resolveRedis(fastify, o.redis, { plugin: PLUGIN, timeout: o.timeoutMs })
  const counters = new Counters()
  const generation = new Generation()
  const breaker = o.breaker === undefined ? undefined : new Breaker(o.breaker.threshold, o.breaker.cooldownMs)
  const store = new Store(resolved.client, resolved.owned, o.base, o.codec, new Guard(o.timeoutMs, breaker, counters, fastify.log), generation, resolved.duplicate)
  const l1 = o.l1 === undefined ? undefined : new L1(o.l1.maxEntries, o.l1.maxBytes, o.l1.ttlMs)
  const coherence = new Coherence(l1, generation, counters)
  const cache = new SharedCache(o, store, l1, coherence, counters, breaker, fastify.log)

  // On a Cluster the bus is sharded: its channel lives on one slot, whose failover ioredis reports
  // (a classic subscriber is moved to another node silently, and invalidations of the gap are lost).
  const bus = new Bus(resolved.duplicate(resolved.isCluster ? { shardedSubscribers: true } : {}), resolved.client, {
    channel: store.channel,
    sharded: resolved.isCluster,
    timeoutMs: o.timeoutMs,
    heartbeatMs: o.heartbeatMs,
    heartbeatMisses: o.heartbeatMisses
  }, coherence, counters, fastify.log)
  fastify.addHook('onClose', async () => bus.stop())
  // Awaited when the app is ready, not here: plugins register one after another, so a wait here
  // would add this bus's wait to every other plugin's wait for an unreachable Redis.
  const started = bus.start(SUBSCRIBE_READY_MS)
  fastify.addHook('onReady', async () => await started)
  fastify.addHook('onReady', async () => { await store.connected(SUBSCRIBE_READY_MS) })

  // Bound methods: `const { wrap } = fastify.cache` works, and a hit costs no extra call layer.
  const api: Cache = {
    get: cache.get.bind(cache),
    set: cache.set.bind(cache),
    del: cache.del.bind(cache),
    wrap: cache.wrap.bind(cache),
    invalidateTags: cache.invalidateTags.bind(cache),
    clear: cache.clear.bind(cache),
    stats: cache.stats.bind(cache)
  }
  fastify.decorate('cache', api)
  routeCaching(fastify, cache)
}
