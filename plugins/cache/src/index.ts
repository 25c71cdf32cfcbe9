import fp from 'fastify-plugin'
import { cachePlugin } from './plugin.js'
import type { CacheOptions } from './types.js'

/** The shared Redis cache: `fastify.cache` and route option `config.cache`. */
export const cache = fp<CacheOptions>(cachePlugin, { fastify: '5.x', name: '@scaleout/cache' })
export default cache

export { errors, InvalidKeyError, InvalidCallOptionError, BreakerOpenError, CorruptEntryError } from './errors.js'
export type * from './types.js'
export { jsonCodec, type Codec } from '@scaleout/core'
