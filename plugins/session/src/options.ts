import { checkBoolean, checkCookieAttributes, checkCookieName, checkInteger, checkPrefix, checkSecrets, invalid, isPlainObject, parseDuration } from '@scaleout/core'
import type { CookieAttributes, RedisOption } from '@scaleout/core'

export const PLUGIN = '@scaleout/session'

export interface CookieSettings extends CookieAttributes {
  readonly name: string
  /** The name used when the `__Host-` prefix applies, else the same as `name`. */
  readonly securedName: string
  readonly maxAgeSeconds: number | undefined
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
const DAY_MS = 86_400_000
// Redis keeps expiries as ms since the epoch; a century is more than any session needs.
const MAX_DURATION_MS = 36_500 * DAY_MS

function unknownKeys (option: string, value: Record<string, unknown>, known: Set<string>): void {
  const extra = Object.keys(value).filter((k) => !known.has(k))
  if (extra.length > 0) throw invalid(PLUGIN, option, `only known options (unknown: ${extra.join(', ')})`)
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
  const name = checkCookieName(PLUGIN, 'cookieName', cookieName ?? 'sessionId', true)
  const attributes = checkCookieAttributes(PLUGIN, 'cookie', c)
  const hostPrefix = c.hostPrefix === undefined ? true : checkBoolean(PLUGIN, 'cookie.hostPrefix', c.hostPrefix)
  const maxAgeSeconds = c.maxAge === undefined ? undefined : Math.floor(duration('cookie.maxAge', c.maxAge, 0) / 1000)
  // Browsers only accept a __Host- cookie that is Secure, has no Domain and has Path=/.
  const securedName = hostPrefix && attributes.domain === undefined && attributes.path === '/' ? `__Host-${name}` : name
  return { ...attributes, name, securedName, maxAgeSeconds }
}

/** Checks and normalises every option; throws SCALEOUT_ERR_INVALID_OPTION naming the first bad one. */
export function normalize (options: unknown): Settings {
  if (!isPlainObject(options)) throw invalid(PLUGIN, 'options', 'an object with at least `secret`')
  unknownKeys('options', options, KNOWN)
  return {
    secrets: checkSecrets(PLUGIN, 'secret', options.secret),
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
