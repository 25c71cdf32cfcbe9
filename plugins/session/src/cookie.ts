import type { FastifyRequest } from 'fastify'
import type { CookieSettings } from './options.js'

// The Cookie header is read here rather than through @fastify/cookie so the plugin works the
// same whether or not that plugin is registered, and in whichever order.

/** Browsers send at most ~4 KB per cookie; a longer header is not worth scanning for ours. */
const MAX_HEADER = 16_384

function isBoundary (code: number): boolean {
  return code === 59 || code === 32 || code === 9 // ';' ' ' '\t'
}

/** The value of the first cookie called `name` in a Cookie header, or undefined. */
export function readCookie (header: string, name: string): string | undefined {
  if (header.length > MAX_HEADER) return undefined
  const needle = name + '='
  let from = 0
  for (;;) {
    const at = header.indexOf(needle, from)
    if (at === -1) return undefined
    if (at === 0 || isBoundary(header.charCodeAt(at - 1))) {
      const start = at + needle.length
      const end = header.indexOf(';', start)
      const value = (end === -1 ? header.slice(start) : header.slice(start, end)).trim()
      return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value
    }
    from = at + 1
  }
}

/** Whether the cookie is Secure on this request (`'auto'` follows request.protocol, so trustProxy counts). */
export function isSecure (settings: CookieSettings, request: FastifyRequest): boolean {
  return settings.secure === 'auto' ? request.protocol === 'https' : settings.secure
}

export function cookieName (settings: CookieSettings, secure: boolean): string {
  return secure ? settings.securedName : settings.name
}

/** A Set-Cookie value carrying `value`, or clearing the cookie when `value` is null. */
export function serialize (settings: CookieSettings, secure: boolean, value: string | null): string {
  let out = `${cookieName(settings, secure)}=${value ?? ''}; Path=${settings.path}`
  if (settings.domain !== undefined) out += `; Domain=${settings.domain}`
  if (value === null) {
    out += '; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT'
  } else if (settings.maxAgeSeconds !== undefined) {
    out += `; Max-Age=${settings.maxAgeSeconds}; Expires=${new Date(Date.now() + settings.maxAgeSeconds * 1000).toUTCString()}`
  }
  if (settings.httpOnly) out += '; HttpOnly'
  if (secure) out += '; Secure'
  out += `; SameSite=${settings.sameSite}`
  if (settings.partitioned) out += '; Partitioned'
  return out
}
