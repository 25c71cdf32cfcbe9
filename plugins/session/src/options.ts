import { checkBoolean, checkInteger, checkPrefix, invalid, isPlainObject, parseDuration } from '@scaleout/core'
import type { RedisOption } from '@scaleout/core'

export const PLUGIN = '@scaleout/session'

export interface CookieSettings {
  readonly name: string
  /** The name used when the `__Host-` prefix applies, else the same as `name`. */
  readonly securedName: string
  readonly path: string
  readonly domain: string | undefined
  readonly secure: boolean | 'auto'
  readonly sameSite: 'Lax' | 'Strict' | 'None'
  readonly httpOnly: boolean
  readonly maxAgeSeconds: number | undefined
  readonly partitioned: boolean
}

export interface Settings {
  readonly secrets: readonly string[]
  readonly redis: RedisOption | undefined
  readonly prefix: string
  readonly ttlMs: number
  readonly maxLifetimeMs: number
  readonly cookie: CookieSettings
  readonly userKey: string
  readonly maxSize: number
  readonly timeoutMs: number
}

const KNOWN = new Set(['secret', 'redis', 'prefix', 'ttl', 'maxLifetime', 'cookieName', 'cookie', 'userKey', 'maxSize', 'timeout'])
const KNOWN_COOKIE = new Set(['path', 'domain', 'secure', 'sameSite', 'httpOnly', 'maxAge', 'partitioned', 'hostPrefix'])
// RFC 6265 token characters; the prefixes are ours to add.
const COOKIE_NAME = /^(?!__(?:Host|Secure)-)[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/
const DOMAIN = /^\.?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
// eslint-disable-next-line no-control-regex
const PATH = /^\/[^;\x00-\x1f\x7f]{0,255}$/
const SAME_SITE = { lax: 'Lax', strict: 'Strict', none: 'None' } as const
const DAY_MS = 86_400_000
// Redis keeps expiries as ms since the epoch; a century is more than any session needs.
const MAX_DURATION_MS = 36_500 * DAY_MS

function unknownKeys (option: string, value: Record<string, unknown>, known: Set<string>): void {
  const extra = Object.keys(value).filter((k) => !known.has(k))
  if (extra.length > 0) throw invalid(PLUGIN, option, `only known options (unknown: ${extra.join(', ')})`)
}

function secrets (value: unknown): string[] {
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && s.length >= 32)) {
    throw invalid(PLUGIN, 'secret', 'a string of at least 32 characters, or a non-empty array of them (the first signs)')
  }
  return [...list] as string[]
}

function duration (option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  const ms = parseDuration(PLUGIN, option, value, 's')
  if (ms < 1000 || ms > MAX_DURATION_MS) throw invalid(PLUGIN, option, 'a duration from 1 second to 100 years')
  return ms
}

function cookie (cookieName: unknown, value: unknown): CookieSettings {
  const c = value === undefined ? {} : value
  if (!isPlainObject(c)) throw invalid(PLUGIN, 'cookie', 'an object of cookie attributes')
  unknownKeys('cookie', c, KNOWN_COOKIE)
  const name = cookieName ?? 'sessionId'
  if (typeof name !== 'string' || !COOKIE_NAME.test(name)) {
    throw invalid(PLUGIN, 'cookieName', 'a cookie name of 1 to 64 token characters, without a __Host- or __Secure- prefix')
  }
  const path = c.path ?? '/'
  if (typeof path !== 'string' || !PATH.test(path)) throw invalid(PLUGIN, 'cookie.path', 'a path starting with "/" without ";" or control characters')
  const domain = c.domain
  if (domain !== undefined && (typeof domain !== 'string' || domain.length > 253 || !DOMAIN.test(domain))) {
    throw invalid(PLUGIN, 'cookie.domain', 'a host name such as "example.com"')
  }
  const secure = c.secure ?? 'auto'
  if (secure !== 'auto' && typeof secure !== 'boolean') throw invalid(PLUGIN, 'cookie.secure', 'true, false or "auto"')
  const sameSiteOption = c.sameSite ?? 'lax'
  if (typeof sameSiteOption !== 'string' || !Object.hasOwn(SAME_SITE, sameSiteOption)) throw invalid(PLUGIN, 'cookie.sameSite', '"lax", "strict" or "none"')
  const sameSite = SAME_SITE[sameSiteOption as keyof typeof SAME_SITE]
  if (sameSite === 'None' && secure !== true) throw invalid(PLUGIN, 'cookie.sameSite', '"lax" or "strict" unless cookie.secure is true (browsers drop SameSite=None cookies that are not Secure)')
  const httpOnly = c.httpOnly === undefined ? true : checkBoolean(PLUGIN, 'cookie.httpOnly', c.httpOnly)
  const partitioned = c.partitioned === undefined ? false : checkBoolean(PLUGIN, 'cookie.partitioned', c.partitioned)
  const hostPrefix = c.hostPrefix === undefined ? true : checkBoolean(PLUGIN, 'cookie.hostPrefix', c.hostPrefix)
  const maxAgeSeconds = c.maxAge === undefined ? undefined : Math.floor(duration('cookie.maxAge', c.maxAge, 0) / 1000)
  // Browsers only accept a __Host- cookie that is Secure, has no Domain and has Path=/.
  const securedName = hostPrefix && domain === undefined && path === '/' ? `__Host-${name}` : name
  return { name, securedName, path, domain, secure, sameSite, httpOnly, maxAgeSeconds, partitioned }
}

/** Checks and normalises every option; throws SCALEOUT_ERR_INVALID_OPTION naming the first bad one. */
export function normalize (options: unknown): Settings {
  if (!isPlainObject(options)) throw invalid(PLUGIN, 'options', 'an object with at least `secret`')
  unknownKeys('options', options, KNOWN)
  return {
    secrets: secrets(options.secret),
    redis: options.redis as RedisOption | undefined,
    prefix: options.prefix === undefined ? 'scaleout:sess:' : checkPrefix(PLUGIN, 'prefix', options.prefix),
    ttlMs: duration('ttl', options.ttl, DAY_MS),
    maxLifetimeMs: duration('maxLifetime', options.maxLifetime, 7 * DAY_MS),
    cookie: cookie(options.cookieName, options.cookie),
    userKey: options.userKey === undefined ? 'userId' : userKey(options.userKey),
    maxSize: options.maxSize === undefined ? 65_536 : checkInteger(PLUGIN, 'maxSize', options.maxSize, 64, 16 * 1024 * 1024),
    timeoutMs: options.timeout === undefined ? 1000 : checkInteger(PLUGIN, 'timeout', options.timeout, 1, 60_000)
  }
}

function userKey (value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) throw invalid(PLUGIN, 'userKey', 'a session key name of 1 to 256 characters')
  return value
}
