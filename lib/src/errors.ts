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

/**
 * A stored value could not be decoded. The decoder's own error is the `cause`: not in the message,
 * which a client may see, since a parser's message quotes the text it could not parse.
 */
export const DecodeError = createError(
  'SCALEOUT_ERR_DECODE',
  'Stored value could not be decoded (the reason is in the error\'s cause)',
  500
)

/**
 * Redis refused our credentials (WRONGPASS, NOAUTH): a wrong password or ACL user in the Redis
 * URL or options. A separate code from SCALEOUT_ERR_REDIS_UNAVAILABLE, so the operator sees what to fix.
 */
export const RedisAuthError = createError(
  'SCALEOUT_ERR_REDIS_AUTH',
  'Redis authentication failed: check the password (and ACL user) in the Redis URL or options',
  503
)

/** Redis reached `maxmemory` and refused a write (the `noeviction` policy); nothing was written. */
export const RedisOutOfMemoryError = createError(
  'SCALEOUT_ERR_REDIS_OOM',
  'Redis is out of memory (maxmemory reached) and refused the write',
  503
)

/** The Redis ACL user may not run a command or touch a key this plugin needs. */
export const RedisPermissionError = createError(
  'SCALEOUT_ERR_REDIS_NOPERM',
  'The Redis user lacks a permission this plugin needs (see the ACL log)',
  500
)

/**
 * Any other error reply (WRONGTYPE: a key of the wrong type under our prefix; a script error).
 * The message names only the reply's error code; Redis's own text is in `cause` and in the logs.
 */
export const RedisReplyError = createError(
  'SCALEOUT_ERR_REDIS_REPLY',
  'Redis refused the command (%s)',
  500
)

/**
 * Every core error keyed by its code, for a plugin's own `errors` object:
 * `export const errors = { ...coreErrors, SCALEOUT_ERR_X: XError }`, so `err.code` finds the class.
 */
export const coreErrors = Object.freeze({
  SCALEOUT_ERR_REDIS_NOT_CONFIGURED: RedisNotConfiguredError,
  SCALEOUT_ERR_INVALID_OPTION: InvalidOptionError,
  SCALEOUT_ERR_REDIS_UNAVAILABLE: RedisUnavailableError,
  SCALEOUT_ERR_REDIS_TIMEOUT: RedisTimeoutError,
  SCALEOUT_ERR_VALUE_TOO_LARGE: ValueTooLargeError,
  SCALEOUT_ERR_ENCODE: EncodeError,
  SCALEOUT_ERR_DECODE: DecodeError,
  SCALEOUT_ERR_REDIS_AUTH: RedisAuthError,
  SCALEOUT_ERR_REDIS_OOM: RedisOutOfMemoryError,
  SCALEOUT_ERR_REDIS_NOPERM: RedisPermissionError,
  SCALEOUT_ERR_REDIS_REPLY: RedisReplyError
})
