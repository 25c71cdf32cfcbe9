import { checkDuration, checkInteger, checkKeys, checkOptions, checkPrefix, createCodec, hasLoneSurrogate, invalid, isPlainObject, type RedisOption, type SizedCodec } from '@scaleout/core'
import { InvalidCallOptionError, InvalidKeyError } from './errors.js'
import type { RouteCacheOptions, SetOptions } from './types.js'

export const PLUGIN = '@scaleout/cache'
export const MAX_KEY = 1024
// A century: far past any timer's range, and expiry times stay exact integers.
const MAX_TTL_MS = 100 * 365 * 86_400_000
const HOUR_MS = 3_600_000

// `prefix` is the Redis key prefix of the namespace: listed here, so the lib check does not take it
// for Fastify's route prefix (which Fastify ignores for a plugin wrapped in fastify-plugin).
const KNOWN = ['redis', 'prefix', 'ttl', 'staleTtl', 'l1', 'timeout', 'codec', 'maxBytes', 'version', 'lockTtl', 'lockWait', 'breaker', 'heartbeatInterval', 'heartbeatMisses'] as const
const L1_KNOWN = ['maxEntries', 'maxBytes', 'ttl'] as const
const BREAKER_KNOWN = ['threshold', 'cooldown'] as const
const ROUTE_KNOWN = ['ttl', 'key', 'vary', 'tags', 'scope', 'maxEntries'] as const
const CALL_KNOWN = ['ttl', 'staleTtl', 'tags'] as const

export interface Normalized {
  redis: RedisOption | undefined
  /** prefix + codec name + schema version: entries of another codec or shape never match. */
  base: string
  ttlMs: number
  staleMs: number
  l1: { maxEntries: number, maxBytes: number, ttlMs: number } | undefined
  timeoutMs: number
  codec: SizedCodec
  lockTtlMs: number
  lockWaitMs: number
  breaker: { threshold: number, cooldownMs: number } | undefined
  /** 0 when the heartbeat is off. */
  heartbeatMs: number
  heartbeatMisses: number
}

function duration (option: string, value: unknown, min: number, max = MAX_TTL_MS): number {
  return checkDuration(PLUGIN, option, value, { min, max })
}

function l1Options (value: unknown): Normalized['l1'] {
  if (value === false) return undefined
  const given = value === undefined || value === true ? {} : value
  if (!isPlainObject(given)) throw invalid(PLUGIN, 'l1', 'a boolean or { maxEntries, maxBytes, ttl }')
  checkKeys(PLUGIN, 'l1', given, L1_KNOWN)
  return {
    maxEntries: given.maxEntries === undefined ? 1000 : checkInteger(PLUGIN, 'l1.maxEntries', given.maxEntries, 1),
    maxBytes: given.maxBytes === undefined ? 16 * 1024 * 1024 : checkInteger(PLUGIN, 'l1.maxBytes', given.maxBytes, 1),
    ttlMs: given.ttl === undefined ? MAX_TTL_MS : duration('l1.ttl', given.ttl, 1)
  }
}

function breakerOptions (value: unknown): Normalized['breaker'] {
  if (value === false) return undefined
  const given = value === undefined ? {} : value
  if (!isPlainObject(given)) throw invalid(PLUGIN, 'breaker', 'false or { threshold, cooldown }')
  checkKeys(PLUGIN, 'breaker', given, BREAKER_KNOWN)
  return {
    threshold: given.threshold === undefined ? 5 : checkInteger(PLUGIN, 'breaker.threshold', given.threshold, 1, 1000),
    cooldownMs: given.cooldown === undefined ? 1000 : duration('breaker.cooldown', given.cooldown, 1, HOUR_MS)
  }
}

function heartbeat (value: unknown): number {
  if (value === false) return 0
  if (value === undefined) return 1000
  return duration('heartbeatInterval', value, 10, HOUR_MS)
}

function version (value: unknown): string {
  if (value === undefined) return '1'
  if ((typeof value === 'number' && Number.isInteger(value) && value >= 0) || (typeof value === 'string' && /^[\w.-]{1,32}$/.test(value))) return String(value)
  throw invalid(PLUGIN, 'version', 'a non-negative integer or 1 to 32 word characters')
}

/** Validates every option before anything is decorated. */
export function normalize (options: unknown): Normalized {
  const o = checkOptions(PLUGIN, options, KNOWN)
  const prefix = o.prefix === undefined ? 'scaleout:cache:' : checkPrefix(PLUGIN, 'prefix', o.prefix)
  const codec = createCodec(PLUGIN, { codec: o.codec, maxBytes: o.maxBytes })
  // The base is <name>.v<version>, and a version may hold dots: a name with ".v" in it could spell
  // another pair's base (json with version 2.v3, json.v2 with version 3). Without it, the first
  // ".v" is the separator, so every pair has its own base.
  if (codec.name.includes('.v')) throw invalid(PLUGIN, 'codec', `a name without ".v" (the cache's keys start <prefix><name>.v<version>), not ${JSON.stringify(codec.name)}`)
  return {
    redis: o.redis as RedisOption | undefined,
    base: `${prefix}${codec.name}.v${version(o.version)}:`,
    ttlMs: o.ttl === undefined ? 60_000 : duration('ttl', o.ttl, 1),
    staleMs: o.staleTtl === undefined ? 0 : duration('staleTtl', o.staleTtl, 0),
    l1: l1Options(o.l1),
    timeoutMs: o.timeout === undefined ? 250 : duration('timeout', o.timeout, 1, 60_000),
    codec,
    lockTtlMs: o.lockTtl === undefined ? 10_000 : duration('lockTtl', o.lockTtl, 1),
    lockWaitMs: o.lockWait === undefined ? 3000 : duration('lockWait', o.lockWait, 0),
    breaker: breakerOptions(o.breaker),
    heartbeatMs: heartbeat(o.heartbeatInterval),
    heartbeatMisses: o.heartbeatMisses === undefined ? 2 : checkInteger(PLUGIN, 'heartbeatMisses', o.heartbeatMisses, 1, 100)
  }
}

// A lone surrogate reaches Redis (and a digest) as U+FFFD: two different keys or tags would share
// one entry or one token, while L1 and the messages keep them apart.
export function checkKey (what: string, value: unknown): string {
  if (!isKey(value)) throw new InvalidKeyError(what, MAX_KEY)
  return value
}

/** Whether `value` is a key or tag a call may name (see checkKey). */
export function isKey (value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_KEY && !hasLoneSurrogate(value)
}

/**
 * The most tags one call may name: an invalidation message carries the tags of one call, and every
 * instance refuses a message with more (coherence.ts), so more could never reach their L1.
 */
export const MAX_TAGS = 1000

export function checkTags (value: unknown): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw new InvalidCallOptionError('tags', 'an array of strings')
  if (value.length > MAX_TAGS) throw new InvalidCallOptionError('tags', `at most ${MAX_TAGS} tags (got ${value.length})`)
  // A copy, checked and kept: the caller may change its array once the call is made, and an L1
  // entry is unindexed by the very tags it was indexed under.
  const tags: unknown[] = value.slice()
  for (const tag of tags) checkKey('a tag', tag)
  return tags as string[]
}

/** What one set/wrap call stores with. */
export interface Settings { ttlMs: number, staleMs: number, tags: string[] }

/** A per-call duration; undefined keeps the default. */
function callDuration (option: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  try {
    return duration(option, value, min)
  } catch {
    throw new InvalidCallOptionError(option, `a duration from ${min}ms to 100 years: milliseconds or a string such as "30s"`)
  }
}

/** The options of one `set` or `wrap` call (`method`), over the plugin's defaults. */
export function callSettings (method: string, options: SetOptions, defaults: Settings): Settings {
  if (!isPlainObject(options)) throw new InvalidCallOptionError(`${method}() options`, 'an object { ttl?, staleTtl?, tags? }')
  checkKeys(PLUGIN, `${method}()`, options, CALL_KNOWN)
  return {
    ttlMs: callDuration('ttl', options.ttl, defaults.ttlMs, 1),
    staleMs: callDuration('staleTtl', options.staleTtl, defaults.staleMs, 0),
    tags: checkTags(options.tags)
  }
}

export interface NormalizedRoute {
  /** The route's pattern, for error messages. */
  url: string
  ttlMs: number
  key: RouteCacheOptions['key']
  vary: string[]
  tags: string[]
  scope: 'public' | 'private'
  maxEntries: number
}

/** Validates a route's `config.cache` when the route is added, so a typo fails at startup. */
export function normalizeRoute (url: string, value: unknown): NormalizedRoute {
  const option = `config.cache of GET ${url}`
  if (!isPlainObject(value)) throw invalid(PLUGIN, option, '{ ttl, key?, vary?, tags?, scope?, maxEntries? }')
  checkKeys(PLUGIN, option, value, ROUTE_KNOWN)
  if (value.key !== undefined && typeof value.key !== 'function') throw invalid(PLUGIN, `${option}.key`, 'a function (request) => string')
  const vary = value.vary ?? []
  if (!Array.isArray(vary) || !vary.every((h) => typeof h === 'string' && /^[\w-]+$/.test(h))) throw invalid(PLUGIN, `${option}.vary`, 'an array of header names')
  const scope = value.scope ?? 'public'
  if (scope !== 'public' && scope !== 'private') throw invalid(PLUGIN, `${option}.scope`, '"public" or "private"')
  // The route cache is shared by every user: a private response needs a key that names its user.
  if (scope === 'private' && value.key === undefined) throw invalid(PLUGIN, `${option}.key`, 'a function (request) => string naming the user, which scope "private" requires')
  let tags: string[]
  try {
    tags = checkTags(value.tags)
  } catch {
    throw invalid(PLUGIN, `${option}.tags`, 'an array of non-empty strings')
  }
  return {
    url,
    ttlMs: duration(`${option}.ttl`, value.ttl, 1000),
    key: value.key as RouteCacheOptions['key'],
    vary: (vary as string[]).map((h) => h.toLowerCase()),
    tags,
    scope,
    maxEntries: value.maxEntries === undefined ? 10_000 : checkInteger(PLUGIN, `${option}.maxEntries`, value.maxEntries, 1, 10_000_000)
  }
}
