import type { FastifyRequest } from 'fastify'
import type { CookieSettings } from './options.js'

// The Cookie header is read here rather than through @fastify/cookie so the plugin works the same
// whether or not that plugin is registered, and in whichever order.

/** A Cookie header longer than this is not scanned for the token. */
const MAX_HEADER = 16_384

function isBoundary (code: number): boolean {
  return code === 59 || code === 32 || code === 9 // ';' ' ' '\t'
}

/** The value of the first cookie called `name`, or undefined. */
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
      return (end === -1 ? header.slice(start) : header.slice(start, end)).trim()
    }
    from = at + 1
  }
}

/** The Set-Cookie value carrying a token. */
export function serialize (settings: CookieSettings, request: FastifyRequest, token: string): string {
  const secure = settings.secure === 'auto' ? request.protocol === 'https' : settings.secure
  let out = `${settings.name}=${token}; Path=${settings.path}; Max-Age=${settings.maxAgeSeconds}`
  if (settings.domain !== undefined) out += `; Domain=${settings.domain}`
  out += '; HttpOnly'
  if (secure) out += '; Secure'
  return out + `; SameSite=${settings.sameSite}`
}
