import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest, onSendHookHandler, preHandlerHookHandler, RouteOptions } from 'fastify'
import { invalid } from '@scaleout/core'
import type { Prepared, SharedCache } from './cache.js'
import { normalizeRoute, PLUGIN, type NormalizedRoute } from './options.js'
import { requestKey, routeScope } from './route-key.js'
import { headersOf, isStored, type Stored } from './route-response.js'

const kKey = Symbol('scaleout.cache.routeKey')

/** A miss on its way to being stored: its key, and the storing begun before the handler ran. */
interface Pending { key: string, prepared: Prepared }

/** The tags of If-None-Match, weak or strong (RFC 9110 compares them weakly for GET). */
function matches (header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  return header.split(',').some((tag) => {
    const t = tag.trim()
    return t === '*' || t === etag || t === 'W/' + etag
  })
}

function toArray<T> (value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value]
}

/**
 * RFC 9111 section 3.5: a shared cache does not answer a request that carries credentials with a
 * stored response, nor store the answer to one. This cache is shared by every user, so a request
 * with Authorization or a cookie passes through, unless the route is `scope: 'private'` and its
 * `key()` names the user.
 */
function carriesCredentials (request: FastifyRequest): boolean {
  return request.headers.authorization !== undefined || request.headers.cookie !== undefined
}

/** The header names a Vary value lists (`String()` joins an array of values with commas). */
function varyNames (value: unknown): string[] {
  return (value === undefined ? '' : String(value)).split(',').map((h) => h.trim()).filter((h) => h !== '')
}

/** Adds the `vary` names the reply's Vary lacks (names are case-insensitive), keeping its own first. */
function mergeVary (reply: FastifyReply, vary: string[]): void {
  if (vary.length === 0) return
  const names = varyNames(reply.getHeader('vary'))
  const lower = new Set(names.map((h) => h.toLowerCase()))
  for (const h of vary) {
    if (lower.has(h.toLowerCase())) continue
    lower.add(h.toLowerCase())
    names.push(h)
  }
  reply.header('vary', names.join(', '))
}

function describe (reply: FastifyReply, r: NormalizedRoute, etag: string, maxAgeMs: number): void {
  reply.header('etag', etag)
  reply.header('cache-control', `${r.scope}, max-age=${Math.max(0, Math.floor(maxAgeMs / 1000))}`)
}

function hooks (cache: SharedCache, r: NormalizedRoute, scope: string): { preHandler: preHandlerHookHandler, onSend: onSendHookHandler } {
  // Route-level preHandler: runs after every application hook (authentication included), so a
  // cached answer is never handed to a request those hooks would have refused.
  async function preHandler (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (request.method !== 'GET') return
    const key = r.scope === 'public' && carriesCredentials(request) ? undefined : requestKey(request, scope, r)
    if (key === undefined) {
      reply.header('x-cache', 'bypass')
      return
    }
    const entry = await cache.lookup(key)
    if (entry === undefined || !isStored(entry.value)) {
      // The tag tokens are taken now, before the handler runs (see SharedCache.prepare).
      // No stale window (the plugin's staleTtl is wrap's): a route never serves a stale response, and
      // its entries must leave Redis when its maxEntries count stops counting them.
      (request as unknown as Record<symbol, Pending>)[kKey] = { key, prepared: cache.prepare({ ttl: r.ttlMs, staleTtl: 0, tags: r.tags }) }
      return
    }
    const stored = entry.value
    // A header this request's own hooks set already (CORS for its Origin, rate limits, the instance
    // that serves it) keeps this request's value, not the one stored for the first request. But Vary
    // is merged, as on a miss: a hook's `Vary: Origin` must not hide what the response varies on
    // from a shared cache in front.
    for (const [name, value] of stored.h) {
      if (!reply.hasHeader(name)) reply.header(name, value)
      else if (name === 'vary') mergeVary(reply, varyNames(value))
    }
    mergeVary(reply, r.vary)
    // Never past the route's ttl: an entry's times are its writer's clock (which may be ahead), or a
    // planted entry's, and this max-age tells every cache in front how long it may keep the response.
    describe(reply, r, stored.e, Math.min(r.ttlMs, entry.expiresAt - Date.now()))
    reply.header('x-cache', 'hit')
    if (matches(request.headers['if-none-match'], stored.e)) {
      await reply.code(304).send()
      return
    }
    await reply.send(stored.x === 1 ? Buffer.from(stored.b, 'base64') : stored.b)
  }

  async function onSend (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const state = request as unknown as Record<symbol, Pending | null>
    const pending = state[kKey] as Pending | null
    if (pending === null) {
      // A hit that an application hook gave a cookie of this client's own since (a session started for
      // a new visitor): a cache in front must not keep it for others. A miss with one is never stored.
      if (r.scope === 'public' && reply.hasHeader('set-cookie') && reply.getHeader('x-cache') === 'hit') {
        reply.header('cache-control', String(reply.getHeader('cache-control')).replace('public', 'private'))
      }
      return payload
    }
    state[kKey] = null
    const { key, prepared } = pending
    // Only what every later request may see: a 200 the handler did not mark itself (private,
    // no-store...), with a body we hold whole, and headers that can be replayed (no cookie).
    if (reply.statusCode !== 200 || reply.hasHeader('cache-control')) return payload
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return payload
    mergeVary(reply, r.vary)
    const headers = headersOf(reply)
    if (headers === undefined) return payload
    const etag = '"' + createHash('sha1').update(payload).digest('base64url') + '"'
    describe(reply, r, etag, r.ttlMs)
    reply.header('x-cache', 'miss')
    const stored: Stored = typeof payload === 'string' ? { b: payload, e: etag, h: headers } : { b: payload.toString('base64'), x: 1, e: etag, h: headers }
    // One instant for the count and the entry: the entry leaves Redis when it stops being counted.
    const now = Date.now()
    // Encoded first: one too large to store is never counted (see encodeResponse).
    const encoded = cache.encodeResponse(key, stored)
    const admission = encoded === undefined ? undefined : await cache.admit(scope, key, now + r.ttlMs, r.maxEntries)
    if (admission !== undefined) {
      // Counted for nothing otherwise: responses that are never stored (declined, say) would use
      // up the route's bound, and then nothing would be cached.
      if (!await cache.storePrepared(key, encoded as string | Buffer, prepared, now)) await cache.unadmit(admission)
    }
    if (matches(request.headers['if-none-match'], etag)) {
      reply.code(304)
      return ''
    }
    return payload
  }

  return { preHandler, onSend }
}

/**
 * Adds response caching to every route registered after the plugin with `config.cache`, and warns
 * once about each route registered before it with one: onRoute never sees those, so they are not
 * cached, and saying so beats a cache that silently does nothing.
 */
export function routeCaching (fastify: FastifyInstance, cache: SharedCache): void {
  fastify.decorateRequest(kKey, null)
  // The `config.cache` values onRoute saw (a HEAD route shares its GET route's).
  const seen = new Set<unknown>()
  const warned = new Set<unknown>()
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const config = (route.config as { cache?: unknown } | undefined)?.cache
    if (config === undefined) return
    const methods = toArray(route.method)
    if (!methods.includes('GET')) {
      // Fastify's HEAD route for a GET route shares its config, seen with the GET: answered by it.
      if (methods.length === 1 && methods[0] === 'HEAD' && seen.has(config)) return
      throw invalid(PLUGIN, `config.cache of ${methods.join(',')} ${route.url}`, 'a GET route: only GET responses are cached')
    }
    seen.add(config)
    const r = normalizeRoute(route.url, config)
    const { preHandler, onSend } = hooks(cache, r, routeScope('GET', route.url, route.constraints as Record<string, unknown> | undefined))
    route.preHandler = [...toArray(route.preHandler), preHandler]
    route.onSend = [...toArray(route.onSend), onSend]
  })
  // Unlike onRoute, a hook added here also runs for the routes registered before the plugin (Fastify
  // gives a route its context's hooks when the app starts): the one place an earlier route shows.
  fastify.addHook('onRequest', (request: FastifyRequest, _reply: FastifyReply, done: () => void) => {
    const config = (request.routeOptions.config as { cache?: unknown }).cache
    if (config !== undefined && !seen.has(config) && !warned.has(config)) {
      warned.add(config)
      const route = `${request.method} ${String(request.routeOptions.url)}`
      request.log.warn({ plugin: PLUGIN, route }, `${PLUGIN}: ${route} has config.cache but was registered before ${PLUGIN}, so it is never cached; register ${PLUGIN} before your routes`)
    }
    done()
  })
}
