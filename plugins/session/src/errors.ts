import { createError } from '@fastify/error'
import { coreErrors } from '@scaleout/core'

// Every error the session plugin raises, in one place, so codes stay unique and greppable.

/**
 * Redis could not be reached (or did not answer in time) while the handler used the session.
 * A 503 rather than an empty session: an empty session would silently log the user out.
 */
export const SessionUnavailableError = createError(
  'SCALEOUT_ERR_SESSION_UNAVAILABLE',
  'The session store is unavailable; try again shortly',
  503
)

/**
 * The encoded session data would exceed `maxBytes`; nothing was written. A 413: what the request
 * asked to store is what is too large.
 */
export const SessionTooLargeError = createError(
  'SCALEOUT_ERR_SESSION_TOO_LARGE',
  'Session data is %d bytes, over the maxBytes of %d bytes; nothing was saved',
  413,
  RangeError
)

/** The handler used `request.session` on a route registered with `config: { session: false }`. */
export const SessionDisabledError = createError(
  'SCALEOUT_ERR_SESSION_DISABLED',
  'Sessions are disabled on this route (config.session is false)',
  500
)

/** The value stored under `userKey` is not a user id (a non-empty string or a finite number). */
export const InvalidUserIdError = createError(
  'SCALEOUT_ERR_SESSION_USER_ID',
  'Session key "%s" must hold a non-empty string or a finite number (the user id)',
  500,
  TypeError
)

/** A session key that is not a non-empty string of valid Unicode, or is `__proto__`. */
export const InvalidSessionKeyError = createError(
  'SCALEOUT_ERR_SESSION_KEY',
  'Session keys must be non-empty strings of at most 256 characters of valid Unicode, other than __proto__',
  500,
  TypeError
)

/** A `{ session: 'lazy' }` route read the session before `await request.session.reload()`. */
export const SessionNotLoadedError = createError(
  'SCALEOUT_ERR_SESSION_NOT_LOADED',
  'This route loads its session lazily (config.session is "lazy"): await request.session.reload() before reading it',
  500
)

/** A session method's callback that is not a function (a promise is returned when it is omitted). */
export const SessionCallbackError = createError(
  'SCALEOUT_ERR_SESSION_CALLBACK',
  'A session method\'s callback must be a function; omit it to get a promise',
  500,
  TypeError
)

/**
 * listFor / destroyAllFor on a Redis that may evict keys: the user index could be gone while its
 * sessions live, so "log out everywhere" would silently destroy nothing. Refused instead.
 */
export const SessionEvictionError = createError(
  'SCALEOUT_ERR_SESSION_EVICTION',
  'Redis may evict keys (maxmemory-policy %s with a maxmemory set), so the per-user index cannot be trusted: listFor and destroyAllFor refuse. Set maxmemory-policy to noeviction for sessions',
  500
)

/**
 * With `durable`: the session change is on the primary, but fewer replicas than asked acknowledged
 * it within `durable.timeout`, so a failover could lose it (a logout could come back). A 503: the
 * request may be retried.
 */
export const SessionNotDurableError = createError(
  'SCALEOUT_ERR_SESSION_NOT_DURABLE',
  'The session change reached %d of the %d replicas required within %dms: a failover could lose it; try again shortly',
  503
)

/** Every error the plugin can throw, its own and the core's, keyed by code: `errors[err.code]`. */
export const errors = Object.freeze({
  ...coreErrors,
  SCALEOUT_ERR_SESSION_UNAVAILABLE: SessionUnavailableError,
  SCALEOUT_ERR_SESSION_TOO_LARGE: SessionTooLargeError,
  SCALEOUT_ERR_SESSION_DISABLED: SessionDisabledError,
  SCALEOUT_ERR_SESSION_USER_ID: InvalidUserIdError,
  SCALEOUT_ERR_SESSION_KEY: InvalidSessionKeyError,
  SCALEOUT_ERR_SESSION_NOT_LOADED: SessionNotLoadedError,
  SCALEOUT_ERR_SESSION_EVICTION: SessionEvictionError,
  SCALEOUT_ERR_SESSION_CALLBACK: SessionCallbackError,
  SCALEOUT_ERR_SESSION_NOT_DURABLE: SessionNotDurableError
})
