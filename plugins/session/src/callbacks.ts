import { SessionCallbackError } from './errors.js'
import type { SessionCallback } from './types.js'

// @fastify/session's methods take an optional Node-style callback instead of returning a promise
// (`request.session.destroy(next)` in a preHandler). With a callback nothing is returned, so no
// promise is left for anyone to reject unobserved, and the callback is called once, outside the
// promise machinery: an error it throws is its own (as with any Node callback), never mistaken for
// a failure of the operation nor turned into an unhandled rejection.

/** `operation`'s promise or, given a callback, nothing: the callback gets the outcome. */
export function settle (operation: () => Promise<void>, callback: SessionCallback | undefined): Promise<void> | undefined {
  if (callback === undefined) return operation()
  if (typeof callback !== 'function') throw new SessionCallbackError()
  operation().then(() => { process.nextTick(callback, null) }, (err: unknown) => { process.nextTick(callback, err as Error) })
  return undefined
}
