import { createError } from '@fastify/error'

// Every error the core raises, in one place, so codes stay unique and greppable.

/** Registration found no way to reach Redis. */
export const RedisNotConfiguredError = createError(
  'SCALEOUT_ERR_REDIS_NOT_CONFIGURED',
  '%s needs Redis: pass the `redis` option (a redis:// or rediss:// URL, an ioredis Redis or Cluster, { cluster: [urls] } or { sentinels, name }), register @fastify/redis first, or set REDIS_URL',
  500
)

/** An option failed validation at register time. */
export const InvalidOptionError = createError(
  'SCALEOUT_ERR_INVALID_OPTION',
  '%s: option `%s` is invalid: expected %s',
  500,
  TypeError
)

/** Redis refused or dropped a command (down, restarting, not yet connected). */
export const RedisUnavailableError = createError(
  'SCALEOUT_ERR_REDIS_UNAVAILABLE',
  'Redis is unavailable: %s',
  503
)

/** Redis did not answer within the configured bound. */
export const RedisTimeoutError = createError(
  'SCALEOUT_ERR_REDIS_TIMEOUT',
  'Redis did not answer within %dms',
  503
)

/** An encoded value is larger than the configured limit; nothing was written. */
export const ValueTooLargeError = createError(
  'SCALEOUT_ERR_VALUE_TOO_LARGE',
  'Encoded value is %d bytes, over the limit of %d bytes',
  413,
  RangeError
)

/** A value could not be encoded (undefined, circular, BigInt with JSON...). */
export const EncodeError = createError(
  'SCALEOUT_ERR_ENCODE',
  'Value could not be encoded: %s',
  500,
  TypeError
)

/** A stored value could not be decoded. */
export const DecodeError = createError(
  'SCALEOUT_ERR_DECODE',
  'Stored value could not be decoded: %s',
  500
)
