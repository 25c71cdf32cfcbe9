import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { createCodec, invalid, resolveRedis } from '@scaleout/core'
import { decryptSession } from './decrypt.js'
import { disabledSession } from './disabled.js'
import { warnIfEvicting } from './eviction.js'
import { normalize, PLUGIN } from './options.js'
import type { Context } from './context.js'
import { Session } from './session.js'
import { kBegin, kDefer, kFinish, kIdle, kLoad, kReject, kSession } from './state.js'
import { sessionsApi } from './sessions.js'
import { Store } from './store.js'
import { cookieTaker } from './taken-cookie.js'
import type { RequestSession, SessionOptions } from './types.js'

// How long the app's start waits for the request path's own connection (Redis reachable).
const LINK_READY_MS = 2000

interface Carrier { [kSession]: Session | null }

export async function sessionPlugin (fastify: FastifyInstance, options: SessionOptions): Promise<void> {
  const settings = normalize(options)
  // maxBytes bounds the whole session (checked on save), so the codec's per-value bound is moot.
  const codec = createCodec(PLUGIN, { maxBytes: 512 * 1024 * 1024 })
  const { client, owned, duplicate } = await resolveRedis(fastify, settings.redis, { plugin: PLUGIN, timeout: settings.timeout })
  // WAIT must follow the write on the connection that made it; a Cluster sends it to any node.
  if (settings.durable !== null && client.isCluster) throw invalid(PLUGIN, 'durable', 'nothing on a Redis Cluster (WAIT would not reach the node that took the write)')
  const store = new Store(client, owned, settings, fastify.log, duplicate)
  const ctx: Context = { settings, store, codec, begin }
  const takeCookie = cookieTaker(settings)
  fastify.addHook('onReady', async () => { await store.connected(LINK_READY_MS) })

  fastify.decorate('sessions', sessionsApi(store, settings, fastify.log))
  fastify.decorate('decryptSession', decryptSession(ctx, attach, fastify.log))
  await warnIfEvicting(fastify, store, settings.timeout)
  fastify.decorateRequest(kSession, null)
  fastify.decorateRequest('session', {
    // Created on first use: a request without a cookie that never touches its session costs nothing.
    getter (this: FastifyRequest): RequestSession {
      const carrier = this as unknown as Carrier
      if (carrier[kSession] !== null) return carrier[kSession]
      if (this.routeOptions.config.session === false) return disabledSession
      carrier[kSession] = new Session(ctx, this, true)
      return carrier[kSession]
    }
  })

  /**
   * Takes the request's session cookie into its session: rejected, deferred (lazy route) or read;
   * the promise of the read, if any (it never rejects). Once per request: from the onRequest hook
   * below, or earlier, from a session made in a hook registered before the plugin when it must know
   * the request's session (see SessionState's begin).
   */
  function begin (request: FastifyRequest): Promise<unknown> | undefined {
    const header = request.headers.cookie
    if (header === undefined) return
    // Fastify builds a new routeOptions object on every access: once per request is enough.
    const mode = request.routeOptions.config.session
    if (mode === false) return
    const cookie = takeCookie(request, header)
    if (cookie === undefined) return
    // An onRequest hook registered before this one may have used the session already: keep what
    // it set (and what it began: its regenerate(), destroy() or save() read the cookie already).
    const carrier = request as unknown as Carrier
    let session = carrier[kSession]
    if (session === null) carrier[kSession] = session = new Session(ctx, request)
    else if (!session[kBegin]()) return
    const { value, verified } = cookie
    if (verified === null) {
      session[kReject]()
      return
    }
    if (mode === 'lazy') {
      session[kDefer](verified.id, verified.resign)
      return
    }
    return session[kLoad](verified.id, verified.resign, verified.resign ? undefined : value)
  }

  fastify.addHook('onRequest', function loadSession (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    const loading = begin(request)
    if (loading === undefined) done()
    else loading.then(() => { done() }, done)
  })

  fastify.addHook('onSend', function saveSession (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: Error | null, payload?: unknown) => void) {
    const session = (request as unknown as Carrier)[kSession]
    // Most requests (no cookie, or a session only read) have nothing to do: no promise for them.
    if (session === null || session[kIdle]()) {
      done(null, payload)
      return
    }
    // A send dropped as a double send never goes on (see kFinish).
    session[kFinish](reply).then((goes) => { if (goes) done(null, payload) }, done)
  })
}

/** Where decryptSession puts the session: a request's slot, or `session` on a plain object standing for one. */
function attach (holder: FastifyRequest, session: Session): void {
  if (kSession in holder) (holder as unknown as Carrier)[kSession] = session
  else Object.defineProperty(holder, 'session', { value: session, writable: true, enumerable: true, configurable: true })
}
