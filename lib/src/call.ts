import { Redis } from 'ioredis'
import { RedisAuthError, RedisOutOfMemoryError, RedisPermissionError, RedisReplyError, RedisTimeoutError, RedisUnavailableError } from './errors.js'
import type { RedisClient } from './redis-types.js'
import { noteTimeout } from './silent-link.js'

// Reply errors that mean "the server cannot serve right now", as opposed to a bad command.
const TRANSIENT_REPLY = /^(CLUSTERDOWN|LOADING|TRYAGAIN|MASTERDOWN|READONLY|BUSY)\b/
// What Redis answers to a wrong password or a missing AUTH (Redis 6+, and "invalid password" before).
const AUTH_REPLY = /^(WRONGPASS|NOAUTH)\b|^ERR invalid (username-)?password/

function isAuthFailure (err: unknown): boolean {
  if (!(err instanceof Error)) return false
  if (err.name === 'ReplyError' && AUTH_REPLY.test(err.message)) return true
  // A Cluster that cannot refresh its slots names the last node's error.
  return isAuthFailure((err as { lastNodeError?: unknown }).lastNodeError)
}

// A client that cannot authenticate never becomes ready, and its commands only fail with
// "Stream isn't writeable" or "Connection is closed": the reason is in its last 'error' event.
const connectionFailures = new WeakMap<object, Error>()

/**
 * Records a client's connection error (null once it is ready again), so a call failing on it can
 * say why: SCALEOUT_ERR_REDIS_AUTH rather than a bare "unavailable".
 */
export function noteConnectionError (client: object, err: Error | null): void {
  if (err === null || !isAuthFailure(err)) connectionFailures.delete(client)
  else connectionFailures.set(client, err)
}

/**
 * `err` as a cause fit for logs: ioredis puts the failed command's arguments on its reply errors
 * (`command.args`: the key, a session or cached value), which util.inspect, Sentry or pino's
 * errWithCause would print. A copy keeps the message, stack and command name; `err` is returned
 * itself when it carries no arguments.
 */
function withoutArgs (err: Error): Error {
  const command = (err as { command?: { name?: unknown, args?: unknown } }).command
  if (command?.args === undefined) return err
  const copy = Object.create(Object.getPrototypeOf(err) as object, Object.getOwnPropertyDescriptors(err)) as Error & { command: unknown }
  copy.command = { name: command.name }
  return copy
}

/** The coded error for an error reply that is not an outage; Redis's text stays in `cause`. */
function replyError (err: Error): Error {
  const coded: Error = isAuthFailure(err)
    ? new RedisAuthError()
    : /^OOM\b/.test(err.message)
      ? new RedisOutOfMemoryError()
      : /^NOPERM\b/.test(err.message)
        ? new RedisPermissionError()
        : new RedisReplyError(/^[A-Z][A-Z_-]*\b/.exec(err.message)?.[0] ?? 'ERR')
  coded.cause = withoutArgs(err)
  return coded
}

function isCoded (err: Error): boolean {
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' && code.startsWith('SCALEOUT_ERR_')
}

/** True for errors that say Redis is away rather than that the command was wrong. */
export function isUnavailable (err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code
  if (code === 'SCALEOUT_ERR_REDIS_TIMEOUT' || code === 'SCALEOUT_ERR_REDIS_UNAVAILABLE') return true
  if (isCoded(err)) return false
  if (err.name === 'ReplyError') return TRANSIENT_REPLY.test(err.message)
  return true
}

/**
 * Codes what ioredis throws, with the original as `cause`: Redis away (closed stream, timeout,
 * retries exhausted, cluster not ready) becomes SCALEOUT_ERR_REDIS_TIMEOUT or
 * SCALEOUT_ERR_REDIS_UNAVAILABLE, or SCALEOUT_ERR_REDIS_AUTH when `client` last failed to
 * authenticate; error replies become SCALEOUT_ERR_REDIS_AUTH, _OOM, _NOPERM or _REPLY, whose
 * messages carry no Redis text (clients may see them), and whose `cause` carries no command
 * arguments (see withoutArgs). Errors already coded, and values that are not errors, pass through.
 */
export function toRedisError (err: unknown, timeoutMs = 0, client?: object): Error {
  if (!(err instanceof Error) || isCoded(err)) return err as Error
  if (err.name === 'ReplyError' && !TRANSIENT_REPLY.test(err.message)) return replyError(err)
  const message = err.message
  const failure = client === undefined ? undefined : connectionFailures.get(client)
  const timedOut = failure === undefined && /timed? ?out/i.test(message)
  const coded: Error = failure !== undefined
    ? new RedisAuthError()
    : timedOut
      ? new RedisTimeoutError(timeoutMs)
      : new RedisUnavailableError(message)
  coded.cause = withoutArgs(failure ?? err)
  // ioredis's own command timeout ("Command timed out"): as silent as ours.
  if (timedOut) noteTimeout(client, timeoutMs)
  return coded
}

/**
 * Awaits a Redis call for at most `ms`. For callers whose client may not have a command timeout of
 * its own (a client the user passed in): the request path must never wait on Redis without bound.
 * The command itself is not cancelled; its late answer is ignored.
 */
export async function bounded<T> (operation: Promise<T>, ms: number, client?: object): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new RedisTimeoutError(ms))
      noteTimeout(client, ms)
    }, ms)
  })
  return await Promise.race([operation, timeout]).then(
    (value) => {
      clearTimeout(timer)
      return value
    },
    (err: unknown) => {
      clearTimeout(timer)
      throw toRedisError(err, ms, client)
    }
  )
}

/**
 * The command timeout of a standalone ioredis client, when it is within `ms` (so it alone bounds
 * every call in time); 0 for any client that needs `bounded()`. Read at each call: it is the
 * client's own setting, which ioredis also reads at each command.
 */
function ownTimeoutWithin (client: RedisClient, ms: number): number {
  const own = client instanceof Redis ? client.options.commandTimeout ?? 0 : 0
  return own > ms ? 0 : own
}

/** Awaits a Redis call within a time bound; errors come back coded as `bounded()` codes them. */
export type Bound = <T>(operation: Promise<T>) => Promise<T>

/**
 * The bound for calls on `client` within `ms`, the same whoever created the client. A standalone
 * client whose ioredis command timeout is no longer than `ms` already fails every command in time
 * on its own (its timer starts when the command is queued), so calls only have their errors coded
 * and skip `bounded()`'s extra timer and race, which a hot path pays per call. Every other client
 * gets `bounded()`: one with no timeout or a longer one, a Cluster (which may hold a command for a
 * slot refresh or redirections before any node's timer starts), and a client of another copy of
 * ioredis. `owned` does not matter; the parameter stays for the callers that pass it.
 */
export function boundFor (client: RedisClient, _owned: boolean, ms: number): Bound {
  return async (operation) => {
    const own = ownTimeoutWithin(client, ms)
    if (own === 0) return await bounded(operation, ms, client)
    try {
      return await operation
    } catch (err) {
      throw toRedisError(err, own, client)
    }
  }
}
