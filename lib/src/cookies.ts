import { parseCookie, stringifySetCookie } from 'cookie'
import { checkBoolean, invalid } from './options.js'

// Cookies are parsed and written by `cookie`, the parser @fastify/cookie uses, rather than by hand:
// a hand-written scan once took a space inside another cookie's value for the start of ours, so a
// sibling subdomain could plant `a=x __Host-sid=<theirs>` ahead of the real one.

/** Checked cookie attributes, shared by every plugin that sets a cookie. */
export interface CookieAttributes {
  readonly path: string
  readonly domain: string | undefined
  /** `'auto'` follows request.protocol, so a trusted proxy's `X-Forwarded-Proto` counts. */
  readonly secure: boolean | 'auto'
  readonly sameSite: 'lax' | 'strict' | 'none'
  readonly httpOnly: boolean
  readonly partitioned: boolean
}

/** The attribute option names `checkCookieAttributes` reads. */
export const COOKIE_ATTRIBUTES = ['path', 'domain', 'secure', 'sameSite', 'httpOnly', 'partitioned'] as const

// RFC 6265 token characters.
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/
const DOMAIN = /^\.?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
// eslint-disable-next-line no-control-regex
const PATH = /^\/[^;\x00-\x1f\x7f]{0,255}$/
const SAME_SITE = new Set(['lax', 'strict', 'none'])

// Our cookie values are tokens we minted; they are compared as sent, never URI-decoded.
const asSent = (value: string): string => value

/** The value of the first cookie called `name` in a Cookie header, or undefined. */
export function readCookie (header: string | undefined, name: string): string | undefined {
  if (header === undefined || header.length === 0) return undefined
  return unquoted(parseCookie(header, { decode: asSent })[name])
}

// RFC 6265 allows a value in double quotes; the quotes are not part of it.
function unquoted (value: string | undefined): string | undefined {
  return value !== undefined && value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value
}

/**
 * The values of the first `max` cookies called `name`, in header order. A browser sends two of one
 * name when their paths or domains differ (after a cookie's Path or Domain changed, or one a parent
 * domain set): where the newest must win, the caller judges them all. Each `;`-separated pair is
 * read by the same parser as readCookie.
 */
export function readCookies (header: string | undefined, name: string, max: number): string[] {
  const values: string[] = []
  if (header === undefined || !header.includes(name)) return values
  for (const pair of header.split(';')) {
    if (values.length >= max) break
    const value = unquoted(parseCookie(pair, { decode: asSent })[name])
    if (value !== undefined) values.push(value)
  }
  return values
}

/** A cookie name of RFC 6265 token characters; `reservePrefixes` refuses `__Host-`/`__Secure-`, which the plugin adds itself. */
export function checkCookieName (plugin: string, option: string, value: unknown, reservePrefixes = false): string {
  if (typeof value !== 'string' || !COOKIE_NAME.test(value) || (reservePrefixes && /^__(?:Host|Secure)-/i.test(value))) {
    throw invalid(plugin, option, `a cookie name of 1 to 64 token characters${reservePrefixes ? ', without a __Host- or __Secure- prefix' : ''}`)
  }
  return value
}

/**
 * Checks the attribute options in `given` (`where` is the option's name, such as `cookie`) and fills
 * in the defaults: Path=/, HttpOnly, SameSite=Lax, Secure on HTTPS requests.
 */
export function checkCookieAttributes (plugin: string, where: string, given: Record<string, unknown>): CookieAttributes {
  const path = given.path ?? '/'
  if (typeof path !== 'string' || !PATH.test(path)) throw invalid(plugin, `${where}.path`, 'a path starting with "/" without ";" or control characters')
  const domain = given.domain
  if (domain !== undefined && (typeof domain !== 'string' || domain.length > 253 || !DOMAIN.test(domain))) {
    throw invalid(plugin, `${where}.domain`, 'a host name such as "example.com"')
  }
  const secure = given.secure ?? 'auto'
  if (secure !== 'auto' && typeof secure !== 'boolean') throw invalid(plugin, `${where}.secure`, 'true, false or "auto"')
  const sameSite = typeof given.sameSite === 'string' ? given.sameSite.toLowerCase() : given.sameSite ?? 'lax'
  if (typeof sameSite !== 'string' || !SAME_SITE.has(sameSite)) throw invalid(plugin, `${where}.sameSite`, '"lax", "strict" or "none"')
  // Browsers drop a SameSite=None cookie that is not Secure.
  if (sameSite === 'none' && secure !== true) throw invalid(plugin, `${where}.sameSite`, '"lax" or "strict" unless cookie.secure is true (browsers drop SameSite=None cookies that are not Secure)')
  return {
    path,
    domain: domain as string | undefined,
    secure,
    sameSite: sameSite as CookieAttributes['sameSite'],
    httpOnly: given.httpOnly === undefined ? true : checkBoolean(plugin, `${where}.httpOnly`, given.httpOnly),
    partitioned: given.partitioned === undefined ? false : checkBoolean(plugin, `${where}.partitioned`, given.partitioned)
  }
}

/** Whether a cookie is Secure on a request of this protocol. */
export function isSecureCookie (attributes: CookieAttributes, protocol: string): boolean {
  return attributes.secure === 'auto' ? protocol === 'https' : attributes.secure
}

/**
 * A Set-Cookie value carrying `value`, or clearing the cookie when `value` is null.
 * `maxAgeSeconds` undefined makes a browser-session cookie; `expires`, when given, is its Expires
 * (a caller that shows the date elsewhere passes the one it shows), else `maxAgeSeconds` from now.
 */
export function setCookie (name: string, value: string | null, attributes: CookieAttributes, secure: boolean, maxAgeSeconds?: number, expires?: Date): string {
  const clear = value === null
  return stringifySetCookie({
    name,
    value: clear ? '' : value,
    path: attributes.path,
    domain: attributes.domain,
    httpOnly: attributes.httpOnly,
    secure,
    sameSite: attributes.sameSite,
    partitioned: attributes.partitioned,
    maxAge: clear ? 0 : maxAgeSeconds,
    expires: clear ? new Date(0) : maxAgeSeconds === undefined ? undefined : expires ?? new Date(Date.now() + maxAgeSeconds * 1000)
  }, { encode: asSent })
}
