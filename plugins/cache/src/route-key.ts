import { createHash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { NormalizedRoute } from './options.js'

// Longer keys are hashed: Redis keys stay short whatever the URL's length.
const MAX_PLAIN = 512

// Each part is written as <length>:<text>, after a one-letter marker where it is optional, so
// the parts can be read back one by one: two different inputs never give the same key.
function part (text: string): string {
  return `${text.length}:${text}`
}

// Node joins a repeated request header into one value (set-cookie aside, which no request sends).
function header (value: string | string[] | undefined): string {
  return value === undefined ? 'u' : 's' + part(String(value))
}

/** The route's own scope: method and route pattern (`/users/:id`), never the URL a client sent. */
export function routeScope (method: string, url: string): string {
  return part(method) + part(url)
}

/**
 * The cache key of a request, or undefined when `key()` declines it. Always scoped by the route,
 * protocol and host; then the URL (path and query), or what the route's `key()` returns instead;
 * then the `vary` headers. Hosts are part of it because a response may hold links built from it.
 */
export function requestKey (request: FastifyRequest, scope: string, r: NormalizedRoute): string | undefined {
  let own: string
  if (r.key !== undefined) {
    const value = r.key(request)
    if (value === undefined || value === null) return undefined
    own = 'k' + part(String(value))
  } else {
    own = 'u' + part(request.url)
  }
  let key = scope + part(request.protocol) + part(request.host) + own
  for (const name of r.vary) key += header(request.headers[name])
  return 'route:' + (key.length > MAX_PLAIN ? 'h:' + createHash('sha256').update(key).digest('base64url') : key)
}
