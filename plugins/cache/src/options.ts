import { checkInteger, checkPrefix, createCodec, invalid, isPlainObject, parseDuration, type RedisOption, type SizedCodec } from '@scaleout/core'
import { InvalidCallOptionError, InvalidKeyError } from './errors.js'
import type { CacheOptions, Duration, RouteCacheOptions } from './types.js'

export const PLUGIN = '@scaleout/cache'
const MAX_KEY = 1024
// A century: far past any timer's range, and expiry times stay exact integers.
const MAX_TTL_MS = 100 * 365 * 86_400_000

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

function duration (option: string, value: unknown, min: number): number {
  const ms = parseDuration(PLUGIN, option, value)
  if (ms < min || ms > MAX_TTL_MS) throw invalid(PLUGIN, option, `a duration from ${min}ms to 100 years`)
  return ms
}

function l1Options (value: unknown): Normalized['l1'] {
  if (value === false) return undefined
  const given = value === undefined || value === true ? {} : value
  if (!isPlainObject(given)) throw invalid(PLUGIN, 'l1', 'a boolean or { maxEntries, maxBytes, ttl }')
  return {
    maxEntries: given.maxEntries === undefined ? 1000 : checkInteger(PLUGIN, 'l1.maxEntries', given.maxEntries, 1),
    maxBytes: given.maxBytes === undefined ? 16 * 1024 * 1024 : checkInteger(PLUGIN, 'l1.maxBytes', given.maxBytes, 1),
    ttlMs: given.ttl === undefined ? MAX_TTL_MS : duration('l1.ttl', given.ttl, 1)
  }
}

function breakerOptions (value: unknown): Normalized['breaker'] {
  if (value === false) return undefined
  const given = value === undefined ? {} : value
  if (!isPlainObject(given)) throw invalid(PLUGIN, 'breaker', 'false or { threshold, cooldownMs }')
  return {
    threshold: given.threshold === undefined ? 5 : checkInteger(PLUGIN, 'breaker.threshold', given.threshold, 1, 1000),
    cooldownMs: given.cooldownMs === undefined ? 1000 : checkInteger(PLUGIN, 'breaker.cooldownMs', given.cooldownMs, 1, 3_600_000)
  }
}

function heartbeat (value: unknown): number {
  const ms = parseDuration(PLUGIN, 'heartbeatInterval', value)
  if (ms < 10 || ms > 3_600_000) throw invalid(PLUGIN, 'heartbeatInterval', 'false or a duration from 10ms to 1h')
  return ms
}

function version (value: unknown): string {
  if (value === undefined) return '1'
  if ((typeof value === 'number' && Number.isInteger(value) && value >= 0) || (typeof value === 'string' && /^[\w.-]{1,32}$/.test(value))) return String(value)
  throw invalid(PLUGIN, 'version', 'a non-negative integer or 1 to 32 word characters')
}

/** Validates every option before anything is decorated. */
export function normalize (options: CacheOptions): Normalized {
  if (!isPlainObject(options as unknown)) throw invalid(PLUGIN, 'options', 'an object')
  const prefix = options.prefix === undefined ? 'scaleout:cache:' : checkPrefix(PLUGIN, 'prefix', options.prefix)
  const codec = createCodec(PLUGIN, { codec: options.codec, maxBytes: options.maxBytes })
  return {
    redis: options.redis,
    base: `${prefix}${codec.name}.v${version(options.version)}:`,
    ttlMs: options.ttl === undefined ? 60_000 : duration('ttl', options.ttl, 1),
    staleMs: options.staleTtl === undefined ? 0 : duration('staleTtl', options.staleTtl, 0),
    l1: l1Options(options.l1),
    timeoutMs: options.timeoutMs === undefined ? 250 : checkInteger(PLUGIN, 'timeoutMs', options.timeoutMs, 1, 60_000),
    codec,
    lockTtlMs: options.lockTtl === undefined ? 10_000 : duration('lockTtl', options.lockTtl, 1),
    lockWaitMs: options.lockWait === undefined ? 3000 : duration('lockWait', options.lockWait, 0),
    breaker: breakerOptions(options.breaker),
    heartbeatMs: options.heartbeatInterval === false ? 0 : options.heartbeatInterval === undefined ? 1000 : heartbeat(options.heartbeatInterval),
    heartbeatMisses: options.heartbeatMisses === undefined ? 2 : checkInteger(PLUGIN, 'heartbeatMisses', options.heartbeatMisses, 1, 100)
  }
}

export function checkKey (what: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_KEY) throw new InvalidKeyError(what, MAX_KEY)
  return value
}

export function checkTags (value: unknown): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw new InvalidCallOptionError('tags', 'an array of strings')
  for (const tag of value) checkKey('a tag', tag)
  return value as string[]
}

/** A per-call duration; undefined keeps the default. */
export function callDuration (option: string, value: Duration | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback
  try {
    return duration(option, value, min)
  } catch {
    throw new InvalidCallOptionError(option, `a duration from ${min}ms to 100 years: seconds or a string such as "30s"`)
  }
}

export interface NormalizedRoute {
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
    ttlMs: duration(`${option}.ttl`, value.ttl, 1000),
    key: value.key as RouteCacheOptions['key'],
    vary: (vary as string[]).map((h) => h.toLowerCase()),
    tags,
    scope,
    maxEntries: value.maxEntries === undefined ? 10_000 : checkInteger(PLUGIN, `${option}.maxEntries`, value.maxEntries, 1, 10_000_000)
  }
}
