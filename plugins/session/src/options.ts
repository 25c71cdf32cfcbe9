import { checkBoolean, checkCookieAttributes, checkCookieName, checkDuration, checkInteger, checkKeys, checkOptions, checkPrefix, checkSecrets, COOKIE_ATTRIBUTES, invalid, isPlainObject } from '@scaleout/core'
import type { CookieAttributes, RedisOption } from '@scaleout/core'

export const PLUGIN = '@scaleout/session'

export interface CookieSettings extends CookieAttributes {
  readonly name: string
  /** The name used when the `__Host-` prefix applies, else the same as `name`. */
  readonly securedName: string
  /** Max-Age is written in seconds. */
  readonly maxAgeSeconds: number | undefined
}

/** The checked options; durations in milliseconds. */
export interface Settings {
  readonly secrets: readonly string[]
  readonly redis: RedisOption | undefined
  readonly prefix: string
  readonly ttl: number
  readonly maxLifetime: number
  readonly cookie: CookieSettings
  readonly userKey: string
  readonly maxBytes: number
  readonly timeout: number
}

// `prefix` is ours (the Redis key prefix), so Fastify's register key of that name is accepted.
const KNOWN = ['secret', 'redis', 'prefix', 'ttl', 'maxLifetime', 'cookieName', 'cookie', 'userKey', 'maxBytes', 'timeout']
const KNOWN_COOKIE = [...COOKIE_ATTRIBUTES, 'maxAge', 'hostPrefix']
const SECOND = 1000
const DAY = 86_400_000
// Redis keeps expiries as ms since the epoch; a century is more than any session needs.
const LIFETIMES = { min: SECOND, max: 36_500 * DAY }
// A Redis call bound: long enough for a slow network, short enough that a request still answers.
const TIMEOUTS = { min: 1, max: 60 * SECOND }

function cookie (cookieName: unknown, value: unknown): CookieSettings {
  const c = value === undefined ? {} : value
  if (!isPlainObject(c)) throw invalid(PLUGIN, 'cookie', 'an object of cookie attributes')
  checkKeys(PLUGIN, 'cookie', c, KNOWN_COOKIE)
  const name = checkCookieName(PLUGIN, 'cookieName', cookieName ?? 'sessionId', true)
  const attributes = checkCookieAttributes(PLUGIN, 'cookie', c)
  const hostPrefix = c.hostPrefix === undefined ? true : checkBoolean(PLUGIN, 'cookie.hostPrefix', c.hostPrefix)
  const maxAgeSeconds = c.maxAge === undefined ? undefined : Math.floor(checkDuration(PLUGIN, 'cookie.maxAge', c.maxAge, LIFETIMES) / SECOND)
  // Browsers only accept a __Host- cookie that is Secure, has no Domain and has Path=/.
  const securedName = hostPrefix && attributes.domain === undefined && attributes.path === '/' ? `__Host-${name}` : name
  return { ...attributes, name, securedName, maxAgeSeconds }
}

function userKey (value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) throw invalid(PLUGIN, 'userKey', 'a session key name of 1 to 256 characters')
  return value
}

/** Checks and normalises every option; throws SCALEOUT_ERR_INVALID_OPTION naming the first bad one. */
export function normalize (given: unknown): Settings {
  const options = checkOptions(PLUGIN, given, KNOWN)
  return {
    secrets: checkSecrets(PLUGIN, 'secret', options.secret),
    redis: options.redis as RedisOption | undefined,
    prefix: options.prefix === undefined ? 'scaleout:sess:' : checkPrefix(PLUGIN, 'prefix', options.prefix),
    ttl: options.ttl === undefined ? DAY : checkDuration(PLUGIN, 'ttl', options.ttl, LIFETIMES),
    maxLifetime: options.maxLifetime === undefined ? 7 * DAY : checkDuration(PLUGIN, 'maxLifetime', options.maxLifetime, LIFETIMES),
    cookie: cookie(options.cookieName, options.cookie),
    userKey: options.userKey === undefined ? 'userId' : userKey(options.userKey),
    maxBytes: options.maxBytes === undefined ? 65_536 : checkInteger(PLUGIN, 'maxBytes', options.maxBytes, 64, 16 * 1024 * 1024),
    timeout: options.timeout === undefined ? SECOND : checkDuration(PLUGIN, 'timeout', options.timeout, TIMEOUTS)
  }
}
