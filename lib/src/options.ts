import { InvalidOptionError } from './errors.js'

// Small validators so every plugin rejects a bad option the same way: a coded error naming the
// plugin, the option and what was expected.

export function invalid (plugin: string, option: string, expected: string): Error {
  return new InvalidOptionError(plugin, option, expected)
}

export function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

export function checkInteger (plugin: string, option: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(plugin, option, `an integer from ${min} to ${max}`)
  }
  return value
}

export function checkBoolean (plugin: string, option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalid(plugin, option, 'a boolean')
  return value
}

export function checkString (plugin: string, option: string, value: unknown, pattern?: RegExp, expected = 'a non-empty string'): string {
  if (typeof value !== 'string' || value.length === 0 || (pattern !== undefined && !pattern.test(value))) {
    throw invalid(plugin, option, expected)
  }
  return value
}

// Keys Fastify's register() reads itself and then passes on to the plugin. Every plugin here is
// wrapped in fastify-plugin, for which Fastify ignores them (`prefix` would not move any route), so a
// plugin that does not honour one itself refuses it rather than ignore it silently.
const REGISTER_KEYS = new Set(['prefix', 'logLevel', 'logSerializers'])

function distance (a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number
      row[j] = Math.min(current + 1, (row[j - 1] as number) + 1, previous + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1))
      previous = current
    }
  }
  return row[b.length] as number
}

/** The known name a typo most likely meant, or undefined when none is close. */
export function closestName (name: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of known) {
    const d = distance(name, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined
}

/**
 * Refuses any key of `value` not in `known`, naming the closest known one, or its new name when
 * `renamed` lists it (old name -> new). `where` is the option holding `value` ('' for the top
 * level), so nested typos read `cookie.nmae`.
 */
export function checkKeys (plugin: string, where: string, value: Record<string, unknown>, known: readonly string[], renamed: Readonly<Record<string, string>> = {}): void {
  for (const name of Object.keys(value)) {
    if (known.includes(name)) continue
    const option = where === '' ? name : `${where}.${name}`
    if (Object.hasOwn(renamed, name)) throw invalid(plugin, option, `no such option: it is now \`${renamed[name] as string}\` (see the README's list of changes)`)
    if (where === '' && REGISTER_KEYS.has(name)) {
      throw invalid(plugin, option, `no such option: \`${name}\` is a Fastify register option, which Fastify ignores for plugins wrapped in fastify-plugin such as this one`)
    }
    const closest = closestName(name, known)
    throw invalid(plugin, option, `no such option: ${closest === undefined ? '' : `did you mean \`${closest}\`? `}the options are ${known.join(', ')}`)
  }
}

/**
 * The register-time check every plugin starts with: `options` is a plain object (undefined counts
 * as `{}`) whose keys are all in `known`.
 */
export function checkOptions (plugin: string, options: unknown, known: readonly string[], renamed: Readonly<Record<string, string>> = {}): Record<string, unknown> {
  const given = options === undefined ? {} : options
  if (!isPlainObject(given)) throw invalid(plugin, 'options', 'an object')
  checkKeys(plugin, '', given, known, renamed)
  return given
}

export function checkFunction<T extends (...args: never[]) => unknown> (plugin: string, option: string, value: unknown): T {
  if (typeof value !== 'function') throw invalid(plugin, option, 'a function')
  return value as T
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/

// Timers overflow past 2^31-1 ms (about 24.8 days): Node fires them after 1 ms instead.
// Durations may be longer than that (Redis TTLs are), so callers that arm timers must clamp.
export const MAX_TIMER_MS = 2_147_483_647

/**
 * A duration in milliseconds from a number (in `numberUnit`) or a string such as `"250ms"`, `"30s"`,
 * `"15m"`, `"24h"`, `"7d"`, `"2w"`. Rejects negatives, NaN, Infinity and anything unparsable.
 */
export function parseDuration (plugin: string, option: string, value: unknown, numberUnit: 's' | 'ms' = 's'): number {
  let ms: number | undefined
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) {
    ms = numberUnit === 's' ? value * 1000 : value
  } else if (typeof value === 'string') {
    const match = DURATION.exec(value.trim())
    if (match !== null) ms = Number(match[1]) * (UNIT_MS[match[2] as string] as number)
  }
  if (ms === undefined || !Number.isFinite(ms) || ms > Number.MAX_SAFE_INTEGER) {
    throw invalid(plugin, option, `a duration: a number of ${numberUnit === 's' ? 'seconds' : 'milliseconds'} or a string such as "500ms", "30s", "15m", "24h", "7d"`)
  }
  return Math.round(ms)
}

function formatMs (ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}

/**
 * A duration option, in milliseconds: a number of milliseconds or a string such as `"500ms"`,
 * `"30s"`, `"15m"`, `"24h"`, `"7d"`, within [min, max]. One rule for every plugin's durations.
 */
export function checkDuration (plugin: string, option: string, value: unknown, range: { min: number, max: number }): number {
  let ms: number | undefined
  try {
    ms = parseDuration(plugin, option, value, 'ms')
  } catch {}
  if (ms === undefined || ms < range.min || ms > range.max) {
    throw invalid(plugin, option, `a duration from ${formatMs(range.min)} to ${formatMs(range.max)}: a number of milliseconds or a string such as "500ms", "30s", "15m", "24h"`)
  }
  return ms
}

/** A signing secret option: one string of at least 32 characters, or a non-empty array of them (the first signs, all verify). */
export function checkSecrets (plugin: string, option: string, value: unknown, why = ''): string[] {
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && s.length >= 32)) {
    throw invalid(plugin, option, `a string of at least 32 characters, or a non-empty array of them (the first signs)${why}`)
  }
  return [...list] as string[]
}
