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
