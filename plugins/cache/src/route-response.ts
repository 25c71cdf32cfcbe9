import type { FastifyReply } from 'fastify'

/**
 * A cached response: body (base64 when it was a Buffer), ETag, and the response headers as they
 * were sent, so Content-Encoding, Content-Type, CORS headers, Content-Disposition... replay exactly.
 */
export interface Stored { b: string, x?: 1, e: string, h: Array<[string, string | string[]]> }

// Never stored: hop-by-hop headers (RFC 9110 7.6.1) belong to one connection; the others are
// computed again for every answer (length, date, ETag, freshness, x-cache).
const NOT_STORED = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'content-length', 'date', 'etag', 'cache-control', 'x-cache', 'age'
])
// A cached response with these would hand one client's cookie (or a per-request value) to others.
const NEVER = new Set(['set-cookie'])

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/
// What Node sends as a header value (it throws on anything else, so a forged value would fail every
// request for the entry's lifetime): tab, visible ASCII and space, and bytes 0x80 to 0xFF.
const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
// The ETag this plugin writes: a quoted base64url SHA-1.
const ETAG = /^"[\w-]{27}"$/

function storable (name: string): boolean {
  return !NOT_STORED.has(name) && !NEVER.has(name)
}

/** The headers to store, or undefined when the response must not be cached (a cookie, `Vary: *`). */
export function headersOf (reply: FastifyReply): Stored['h'] | undefined {
  const all = reply.getHeaders()
  const connection = String(all.connection ?? '').toLowerCase().split(',').map((h) => h.trim())
  const out: Stored['h'] = []
  for (const [name, value] of Object.entries(all)) {
    if (NEVER.has(name)) return undefined
    if (!storable(name) || connection.includes(name)) continue
    if (name === 'vary' && String(value).split(',').some((h) => h.trim() === '*')) return undefined
    out.push([name, Array.isArray(value) ? value.map(String) : String(value)])
  }
  return out
}

function isHeader (pair: unknown): boolean {
  if (!Array.isArray(pair) || pair.length !== 2) return false
  const [name, value] = pair as unknown[]
  if (typeof name !== 'string' || !TOKEN.test(name) || !storable(name)) return false
  const values = Array.isArray(value) ? value : [value]
  return values.every((v) => typeof v === 'string' && VALUE.test(v))
}

/** Only what this plugin writes: a forged entry in Redis can never add a cookie or split a header. */
export function isStored (value: unknown): value is Stored {
  const v = value as Stored | null
  return v !== null && typeof v === 'object' && typeof v.b === 'string' && typeof v.e === 'string' && ETAG.test(v.e) &&
    (v.x === undefined || v.x === 1) && Array.isArray(v.h) && v.h.every(isHeader)
}
