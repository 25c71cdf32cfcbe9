import type { Redis } from 'ioredis'
import { RedisTimeoutError, RedisUnavailableError } from './errors.js'
import type { RedisClient } from './redis-types.js'

// Reply errors that mean "the server cannot serve right now", as opposed to a bad command.
const TRANSIENT_REPLY = /^(CLUSTERDOWN|LOADING|TRYAGAIN|MASTERDOWN|READONLY|BUSY)\b/

/** True for errors that say Redis is away rather than that the command was wrong. */
export function isUnavailable (err: unknown): boolean {
  if (!(err instanceof Error)) return false
  if ((err as { code?: unknown }).code === 'SCALEOUT_ERR_REDIS_TIMEOUT' || (err as { code?: unknown }).code === 'SCALEOUT_ERR_REDIS_UNAVAILABLE') return true
  if (err.name === 'ReplyError') return TRANSIENT_REPLY.test(err.message)
  return true
}

/**
 * Turns what ioredis throws when Redis is away (closed stream, timeout, retries exhausted, cluster
 * not ready) into SCALEOUT_ERR_REDIS_TIMEOUT or SCALEOUT_ERR_REDIS_UNAVAILABLE with the original
 * as `cause`. Errors about the command itself (WRONGTYPE, script errors) pass through unchanged.
 */
export function toRedisError (err: unknown, timeoutMs = 0): Error {
  if (!isUnavailable(err)) return err as Error
  const code = (err as { code?: unknown }).code
  if (code === 'SCALEOUT_ERR_REDIS_TIMEOUT' || code === 'SCALEOUT_ERR_REDIS_UNAVAILABLE') return err as Error
  const message = (err as Error).message
  const coded: Error = /timed? ?out/i.test(message)
    ? new RedisTimeoutError(timeoutMs)
    : new RedisUnavailableError(message)
  coded.cause = err
  return coded
}

/**
 * Awaits a Redis call for at most `ms`. For callers whose client may not have a command timeout of
 * its own (a client the user passed in): the request path must never wait on Redis without bound.
 * The command itself is not cancelled; its late answer is ignored.
 */
export async function bounded<T> (operation: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new RedisTimeoutError(ms)), ms)
  })
  return await Promise.race([operation, timeout]).then(
    (value) => {
      clearTimeout(timer)
      return value
    },
    (err: unknown) => {
      clearTimeout(timer)
      throw toRedisError(err, ms)
    }
  )
}

/**
 * The command timeout of a standalone client we created, when it is within `ms` (so it alone bounds
 * every call in time); 0 for any client that needs `bounded()`. See boundFor for why.
 */
export function ownTimeoutWithin (client: RedisClient, owned: boolean, ms: number): number {
  const own = owned && !client.isCluster ? (client as Redis).options.commandTimeout ?? 0 : 0
  return own > ms ? 0 : own
}

/** Awaits a Redis call within a time bound; errors come back coded as `bounded()` codes them. */
export type Bound = <T>(operation: Promise<T>) => Promise<T>

/**
 * The bound for calls on `client` within `ms`. A standalone client we created, whose ioredis
 * command timeout is no longer than `ms`, already fails every command in time on its own (its
 * timer starts when the command is queued), so calls only have their errors coded and skip
 * `bounded()`'s extra timer and race, which a hot path pays per call. Every other client gets
 * `bounded()`: a caller's client may have no timeout or change its options, and a Cluster may hold
 * a command (slot refresh, redirections) before any node's timer starts.
 */
export function boundFor (client: RedisClient, owned: boolean, ms: number): Bound {
  const own = ownTimeoutWithin(client, owned, ms)
  if (own === 0) return async (operation) => await bounded(operation, ms)
  return async (operation) => {
    try {
      return await operation
    } catch (err) {
      throw toRedisError(err, own)
    }
  }
}
