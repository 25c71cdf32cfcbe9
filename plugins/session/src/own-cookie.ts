import { checkCookieAttributes, checkDuration, checkKeys, COOKIE_ATTRIBUTES, invalid, isPlainObject, safeJsonParse, type CookieAttributes } from '@scaleout/core'
import { LIFETIMES, PLUGIN, wholeSeconds, type Settings } from './options.js'

// One session's own cookie attributes (`request.session.options()`, `request.session.cookie.maxAge`),
// on top of the plugin's `cookie` option. They are stored with the session, as the metadata field
// `m:o` (a JSON object, so the session stays an object of string fields), and kept by regenerate().

/** What a session overrides; a key it does not set follows the plugin's `cookie` option. */
export interface Own {
  /** Milliseconds; null: a browser-session cookie (no Max-Age) even when `cookie.maxAge` is set. */
  readonly maxAge?: number | null
  readonly domain?: string
  readonly path?: string
  readonly secure?: boolean | 'auto'
  readonly sameSite?: CookieAttributes['sameSite']
  readonly httpOnly?: boolean
  readonly partitioned?: boolean
}

export const META_OWN = 'm:o'
const KEYS = [...COOKIE_ATTRIBUTES, 'maxAge']
const MIGRATION = '(see "Migrating from @fastify/session" in the @scaleout/session README)'
const HOST_PREFIX = 'the plugin\'s cookie carries the __Host- prefix, which browsers only accept host-only (no Domain), on Path=/ and Secure; register with `cookie.hostPrefix: false` to allow it'

/** A session's own maxAge: a duration, in whole seconds as `cookie.maxAge` is, or null for a browser-session cookie. */
export function checkMaxAge (where: string, value: unknown): number | null {
  return value === null ? null : wholeSeconds(checkDuration(PLUGIN, where, value, LIFETIMES))
}

/**
 * `current` with the attributes in `given` (`where` names them in errors: `session.options`)
 * applied, once the cookie they make together is valid. Keys whose value is undefined are ignored.
 */
export function checkOwn (settings: Settings, current: Own, given: unknown, where: string): Own {
  if (!isPlainObject(given)) throw invalid(PLUGIN, where, 'an object of cookie attributes')
  if (Object.hasOwn(given, 'expires')) throw invalid(PLUGIN, `${where}.expires`, `no such option: use \`maxAge\` (milliseconds) ${MIGRATION}`)
  checkKeys(PLUGIN, where, given, KEYS)
  if (given.sameSite === false) throw invalid(PLUGIN, `${where}.sameSite`, `"lax", "strict" or "none" (false, no SameSite attribute, is Lax in some browsers and None in others) ${MIGRATION}`)
  const next: Record<string, unknown> = { ...current }
  for (const [key, value] of Object.entries(given)) if (value !== undefined) next[key] = value
  if (next.sameSite === true) next.sameSite = 'strict'
  const { cookie } = settings
  const merged = checkCookieAttributes(PLUGIN, where, { ...cookie, ...next })
  // The name the next request looks for is the plugin's: a __Host- name must stay valid.
  if (cookie.securedName !== cookie.name && cookie.secure !== false) {
    if (merged.domain !== undefined) throw invalid(PLUGIN, `${where}.domain`, `nothing: ${HOST_PREFIX}`)
    if (merged.path !== '/') throw invalid(PLUGIN, `${where}.path`, `"/": ${HOST_PREFIX}`)
    if (merged.secure !== true && merged.secure !== cookie.secure) throw invalid(PLUGIN, `${where}.secure`, `${cookie.secure === true ? 'true' : `true or ${JSON.stringify(cookie.secure)}`}: ${HOST_PREFIX}`)
  }
  const own: Record<string, unknown> = {}
  for (const key of Object.keys(next)) own[key] = key === 'maxAge' ? checkMaxAge(`${where}.maxAge`, next.maxAge) : merged[key as keyof CookieAttributes]
  return own as Own
}

/** The `m:o` field's value. */
export function ownField (own: Own): string {
  return JSON.stringify(own)
}

/**
 * The attributes stored in a session's `m:o` field. Redis is untrusted input: anything that is
 * not a valid set of attributes under today's options counts as none.
 */
export function readOwn (settings: Settings, text: unknown): Own {
  if (typeof text !== 'string') return NONE
  try {
    return checkOwn(settings, NONE, safeJsonParse(text), 'stored')
  } catch {
    return NONE
  }
}

export const NONE: Own = Object.freeze({})

/** The session's Max-Age in milliseconds; undefined for a browser-session cookie. */
export function maxAgeOf (settings: Settings, own: Own): number | undefined {
  return own.maxAge === undefined ? settings.cookie.maxAge : own.maxAge ?? undefined
}

/**
 * The Redis idle expiry of a session: the plugin's (`ttl`, bounded by `cookie.maxAge`), or, for a
 * session with a Max-Age of its own, that Max-Age, so the session lives on the server exactly as
 * long as its cookie in the browser, longer or shorter than `ttl`; a browser-session cookie of
 * its own gets `ttl`.
 */
export function idleOf (settings: Settings, own: Own): number {
  return own.maxAge === undefined ? settings.ttl : own.maxAge ?? settings.maxIdle
}

/** The cookie's attributes with the session's own applied. */
export function attributesOf (settings: Settings, own: Own): CookieAttributes {
  return own === NONE ? settings.cookie : { ...settings.cookie, ...own }
}
