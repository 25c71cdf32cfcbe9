import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest, onSendHookHandler, preHandlerHookHandler, RouteOptions } from 'fastify'
import { invalid } from '@scaleout/core'
import type { SharedCache } from './cache.js'
import { normalizeRoute, PLUGIN, type NormalizedRoute } from './options.js'

const kKey = Symbol('scaleout.cache.routeKey')

/** What a cached response keeps: body (base64 when it was a Buffer), content type, ETag, Vary. */
interface Stored { b: string, x?: 1, t?: string, e: string, v?: string }

function isStored (value: unknown): value is Stored {
  const v = value as Stored | null
  return v !== null && typeof v === 'object' && typeof v.b === 'string' && typeof v.e === 'string' &&
    (v.t === undefined || typeof v.t === 'string') && (v.v === undefined || typeof v.v === 'string') && (v.x === undefined || v.x === 1)
}

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

function requestKey (request: FastifyRequest, r: NormalizedRoute): string {
  let key = r.key !== undefined ? String(r.key(request)) : request.url
  for (const header of r.vary) key += `\n${header}:${String(request.headers[header] ?? '')}`
  // Keys stay short and legal whatever the URL's length.
  return key.length > 512 ? 'h:' + createHash('sha256').update(key).digest('base64url') : key
}

function mergeVary (reply: FastifyReply, vary: string[]): void {
  if (vary.length === 0) return
  const current = reply.getHeader('vary')
  const existing = (current === undefined ? '' : String(current)).split(',').map((h) => h.trim()).filter((h) => h !== '')
  const lower = new Set(existing.map((h) => h.toLowerCase()))
  reply.header('vary', [...existing, ...vary.filter((h) => !lower.has(h))].join(', '))
}

function describe (reply: FastifyReply, r: NormalizedRoute, etag: string, maxAgeMs: number): void {
  reply.header('etag', etag)
  reply.header('cache-control', `${r.scope}, max-age=${Math.max(0, Math.floor(maxAgeMs / 1000))}`)
}

function hooks (cache: SharedCache, r: NormalizedRoute): { preHandler: preHandlerHookHandler, onSend: onSendHookHandler } {
  // Route-level preHandler: runs after every application hook (authentication included), so a
  // cached answer is never handed to a request those hooks would have refused.
  async function preHandler (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (request.method !== 'GET') return
    const key = 'route:' + requestKey(request, r)
    const entry = await cache.lookup(key)
    if (entry === undefined || !isStored(entry.value)) {
      (request as unknown as Record<symbol, string>)[kKey] = key
      return
    }
    const stored = entry.value
    describe(reply, r, stored.e, entry.expiresAt - Date.now())
    // The Vary the handler's response had, merged with the route's: a hit varies like the original.
    if (stored.v !== undefined) reply.header('vary', stored.v)
    reply.header('x-cache', 'hit')
    if (matches(request.headers['if-none-match'], stored.e)) {
      await reply.code(304).send()
      return
    }
    if (stored.t !== undefined) reply.type(stored.t)
    await reply.send(stored.x === 1 ? Buffer.from(stored.b, 'base64') : stored.b)
  }

  async function onSend (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const state = request as unknown as Record<symbol, string | null>
    const key = state[kKey]
    if (typeof key !== 'string') return payload
    state[kKey] = null
    if (reply.statusCode !== 200 || reply.hasHeader('set-cookie') || reply.hasHeader('cache-control')) return payload
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return payload
    const etag = '"' + createHash('sha1').update(payload).digest('base64url') + '"'
    describe(reply, r, etag, r.ttlMs)
    mergeVary(reply, r.vary)
    const type = reply.getHeader('content-type')
    const vary = reply.getHeader('vary')
    const stored: Stored = typeof payload === 'string' ? { b: payload, e: etag } : { b: payload.toString('base64'), x: 1, e: etag }
    if (type !== undefined) stored.t = String(type)
    if (vary !== undefined) stored.v = String(vary)
    await cache.set(key, stored, { ttl: `${r.ttlMs}ms`, tags: r.tags }).catch((err: unknown) => {
      request.log.warn({ err, plugin: PLUGIN }, '@scaleout/cache: response not cached')
    })
    reply.header('x-cache', 'miss')
    if (matches(request.headers['if-none-match'], etag)) {
      reply.code(304)
      return ''
    }
    return payload
  }

  return { preHandler, onSend }
}

/** Adds response caching to every route registered after the plugin with `config.cache`. */
export function routeCaching (fastify: FastifyInstance, cache: SharedCache): void {
  fastify.decorateRequest(kKey, null)
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const config = (route.config as { cache?: unknown } | undefined)?.cache
    if (config === undefined) return
    const methods = toArray(route.method)
    if (!methods.includes('GET')) {
      if (methods.includes('HEAD')) return
      throw invalid(PLUGIN, `config.cache of ${methods.join(',')} ${route.url}`, 'a GET route: only GET responses are cached')
    }
    const r = normalizeRoute(route.url, config)
    const { preHandler, onSend } = hooks(cache, r)
    route.preHandler = [...toArray(route.preHandler), preHandler]
    route.onSend = [...toArray(route.onSend), onSend]
  })
}
