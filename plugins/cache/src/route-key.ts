import { createHash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { hasLoneSurrogate } from '@scaleout/core'
import { InvalidCallOptionError } from './errors.js'
import { ROUTE } from './key-space.js'
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

/**
 * The route's own scope: method and route pattern (`/users/:id`), never the URL a client sent, and
 * the route's constraints when it has any: two routes of one pattern told apart by a version, a
 * host or a custom constraint (a tenant header, say) never share entries.
 */
export function routeScope (method: string, url: string, constraints?: Record<string, unknown>): string {
  const scope = part(method) + part(url)
  const names = constraints === undefined ? [] : Object.keys(constraints).sort()
  if (names.length === 0) return scope
  let text = ''
  for (const name of names) text += part(name) + part(constraintText(constraints?.[name]))
  return scope + 'c' + part(text)
}

/** A constraint's value as text: strings as they are, a host RegExp by its source and flags, others as JSON. */
function constraintText (value: unknown): string {
  if (typeof value === 'string') return 's' + value
  if (value instanceof RegExp) return 'r' + String(value)
  return 'j' + String(JSON.stringify(value))
}

/**
 * The cache id of a request (in the route cache's own key space), or undefined when `key()` declines it. Always scoped by the route,
 * protocol and host; then the URL (path and query), or what the route's `key()` returns instead;
 * then the `vary` headers. Hosts are part of it because a response may hold links built from it.
 */
export function requestKey (request: FastifyRequest, scope: string, r: NormalizedRoute): string | undefined {
  let own: string
  if (r.key !== undefined) {
    const value = r.key(request)
    if (value === undefined || value === null) return undefined
    // Anything else would be made text by String(): every user's object would be "[object Object]",
    // one shared entry for a private page. A lone surrogate would reach Redis as U+FFFD: the user
    // 'bob\uD800' would be served the page of 'bob\uFFFD'.
    if (!(typeof value === 'string' && value !== '' && !hasLoneSurrogate(value)) && !(typeof value === 'number' && Number.isFinite(value))) {
      throw new InvalidCallOptionError(`config.cache.key() of GET ${r.url}`, `a non-empty string with no lone surrogate or a finite number (or undefined or null to leave the request uncached), got ${describeValue(value)}`)
    }
    own = 'k' + part(String(value))
  } else {
    own = 'u' + part(request.url)
  }
  let key = scope + part(request.protocol) + part(request.host) + own
  for (const name of r.vary) key += header(request.headers[name])
  return ROUTE + (key.length > MAX_PLAIN ? 'h:' + createHash('sha256').update(key).digest('base64url') : key)
}

/** What a key() returned, for its error message: its type, never its content (it may name a user). */
function describeValue (value: unknown): string {
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'a string with a lone surrogate'
  if (typeof value === 'number') return String(value)
  return Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`
}
