import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { resolveRedis } from '@scaleout/core'
import { Breaker } from './breaker.js'
import { Bus } from './bus.js'
import { SharedCache } from './cache.js'
import { Counters } from './counters.js'
import { Guard } from './guard.js'
import { L1 } from './l1.js'
import { normalize, PLUGIN } from './options.js'
import { routeCaching } from './route.js'
import { Store } from './store.js'
import type { Cache, CacheOptions } from './types.js'

async function plugin (fastify: FastifyInstance, options: CacheOptions): Promise<void> {
  const o = normalize(options)
  const resolved = await resolveRedis(fastify, o.redis, { plugin: PLUGIN })
  const counters = new Counters()
  const breaker = o.breaker === undefined ? undefined : new Breaker(o.breaker.threshold, o.breaker.cooldownMs)
  const store = new Store(resolved.client, resolved.owned, o.base, o.codec, new Guard(o.timeoutMs, breaker, counters, fastify.log))
  const l1 = o.l1 === undefined ? undefined : new L1(o.l1.maxEntries, o.l1.maxBytes, o.l1.ttlMs)
  const cache = new SharedCache(o, store, l1, counters, breaker, fastify.log)

  const bus = new Bus(resolved.duplicate(), resolved.client, {
    channel: store.channel,
    timeoutMs: o.timeoutMs,
    heartbeatMs: o.heartbeatMs,
    heartbeatMisses: o.heartbeatMisses
  }, {
    message: (message) => cache.receive(message),
    down: () => cache.resync(false, false),
    up: (first) => cache.resync(true, !first)
  }, fastify.log)
  fastify.addHook('onClose', async () => bus.stop())
  // Awaited when the app is ready, not here: plugins register one after another, so a wait here
  // would add this bus's 2 s to every other plugin's wait for an unreachable Redis.
  const started = bus.start(2000)
  fastify.addHook('onReady', async () => await started)

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

/** The shared Redis cache: `fastify.cache` and route option `config.cache`. */
export const cache = fp(plugin, { fastify: '5.x', name: PLUGIN })
export default cache
export type * from './types.js'
export { jsonCodec, type Codec } from '@scaleout/core'
