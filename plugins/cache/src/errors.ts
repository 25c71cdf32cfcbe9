import { createError } from '@fastify/error'
import { coreErrors } from '@scaleout/core'

// Every error @scaleout/cache raises of its own; Redis, codec and option errors come from @scaleout/core.

/** A cache key or tag that is not a non-empty string of reasonable length, or holds a lone surrogate (Redis would read U+FFFD). */
export const InvalidKeyError = createError(
  'SCALEOUT_ERR_CACHE_KEY',
  '@scaleout/cache: %s must be a non-empty string of at most %d characters, with no lone surrogate',
  500,
  TypeError
)

/** A per-call option (ttl, staleTtl, tags) failed validation, or the options are not an object. */
export const InvalidCallOptionError = createError(
  'SCALEOUT_ERR_CACHE_OPTION',
  '@scaleout/cache: %s is invalid: expected %s',
  500,
  TypeError
)

/** Redis was skipped because the circuit breaker is open: reads and writes fail open, `del`, `invalidateTags` and `clear` reject with it. */
export const BreakerOpenError = createError(
  'SCALEOUT_ERR_CACHE_BREAKER_OPEN',
  '@scaleout/cache: Redis skipped while the circuit breaker is open',
  503
)

/** An entry in Redis that this cache did not write (or a codec can no longer read). */
export const CorruptEntryError = createError(
  'SCALEOUT_ERR_CACHE_CORRUPT_ENTRY',
  '@scaleout/cache: entry %s is not a cache entry',
  500
)

/**
 * Every error the cache can throw, keyed by code, the core's included: `errors[err.code]` is the
 * class of `err`, for `instanceof` checks without knowing which package raised it.
 */
export const errors = Object.freeze({
  ...coreErrors,
  SCALEOUT_ERR_CACHE_KEY: InvalidKeyError,
  SCALEOUT_ERR_CACHE_OPTION: InvalidCallOptionError,
  SCALEOUT_ERR_CACHE_BREAKER_OPEN: BreakerOpenError,
  SCALEOUT_ERR_CACHE_CORRUPT_ENTRY: CorruptEntryError
})
