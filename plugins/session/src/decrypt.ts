import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { invalid } from '@scaleout/core'
import { settle } from './callbacks.js'
import type { Context } from './context.js'
import { PLUGIN } from './options.js'
import { Session } from './session.js'
import { verify } from './signing.js'
import { kLoad, kSession } from './state.js'
import type { DecryptSession, SessionCallback } from './types.js'

/**
 * `fastify.decryptSession`, as in @fastify/session: makes `request.session` the session that a
 * cookie value (`encryptedSessionId`, without `cookiePrefix`) names, for a request whose session
 * did not come in its Cookie header (a WebSocket handshake that carries it elsewhere). A value
 * that is not validly signed, or whose session is gone, gives a new empty session; Redis failing
 * is the error.
 */
export function decryptSession (ctx: Context, attach: (request: FastifyRequest, session: Session) => void, log: FastifyBaseLogger): DecryptSession {
  return function decryptSession (value: string, request: FastifyRequest, options?: Record<string, unknown> | SessionCallback, callback?: SessionCallback): Promise<void> | undefined {
    return settle(async () => {
      // Checked before anything is touched: null or a number would otherwise fail deep inside as a TypeError.
      if (request === null || typeof request !== 'object') throw invalid(PLUGIN, 'decryptSession request', 'a Fastify request, or an object standing for one')
      // Refused rather than ignored: a session's own attributes are set with request.session.options() once it is loaded.
      if (options !== undefined && typeof options !== 'function' && !isEmptyObject(options)) throw invalid(PLUGIN, 'decryptSession cookie options', 'none: once the session is loaded, set its cookie attributes with `request.session.options()` (see "Migrating from @fastify/session" in the @scaleout/session README)')
      const session = new Session(ctx, isRequest(request) ? request : standIn(log))
      attach(request, session)
      const verified = typeof value === 'string' ? verify(value, ctx.settings.secrets) : null
      if (verified === null) return
      const failure = await session[kLoad](verified.id, verified.resign, verified.resign ? undefined : value)
      if (failure !== null) throw failure
    }, typeof options === 'function' ? options : callback)
  } as DecryptSession
}

/** `{}`: the only cookie options accepted, as @fastify/session's callers pass them. */
function isEmptyObject (value: unknown): boolean {
  return value !== null && typeof value === 'object' && Object.keys(value).length === 0
}

/** A Fastify request: the plugin decorated requests with its session slot. */
function isRequest (holder: FastifyRequest): boolean {
  return kSession in holder
}

/**
 * What a session needs of a request, for a plain object that stands for one (@fastify/session's
 * users pass one outside any request): the app's logger; no client address or user agent is
 * known, so a session created through it records them empty.
 */
function standIn (log: FastifyBaseLogger): FastifyRequest {
  return { log, ip: '', headers: {} } as unknown as FastifyRequest
}
