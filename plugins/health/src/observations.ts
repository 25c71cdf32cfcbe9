import { isPlainObject } from '@scaleout/core'
import type { CheckObservation, CheckResult, HealthStatus } from './types.js'

export type Observation = CheckResult['observations'][number]

const RANK: Record<HealthStatus, number> = { pass: 0, warn: 1, fail: 2 }

export function worst (a: HealthStatus, b: HealthStatus): HealthStatus {
  return RANK[b] > RANK[a] ? b : a
}

function isStatus (value: unknown): value is HealthStatus {
  return value === 'pass' || value === 'warn' || value === 'fail'
}

function round (ms: number): number {
  return Math.round(ms * 100) / 100
}

const asText = (value: unknown): unknown => value instanceof Error && typeof value.message === 'string' ? value.message : String(value)
// JSON holds an Error's own enumerable fields only (a `code`, say), never its message: `{}` says nothing.
const asJson = (value: unknown): unknown => {
  const text = JSON.stringify(value)
  return text === '{}' && value instanceof Error ? undefined : text
}

// A class name fit to print: no markup, no line breaks, bounded.
const NAME = /^[\w$]{1,64}$/

/** The last resort, built from what still reads safely: whether it is an Error, and its class's name. */
function unwritable (value: unknown): string {
  let kind = `a value of type ${typeof value}`
  try {
    if (value instanceof Error) {
      kind = 'an error'
      const name: unknown = value.constructor.name
      if (typeof name === 'string' && NAME.test(name)) kind = `an error (${name})`
    }
  } catch {
    // A Proxy or a getter that throws: what was read so far stands.
  }
  return `${kind} that cannot be written as text`
}

/**
 * Text for anything a check throws or reports. It never throws: String() fails on a null-prototype
 * object, JSON.stringify on a BigInt, both on a revoked Proxy or an Error whose message getter
 * throws, and a throw here would escape the runner instead of failing the check. JSON first for
 * statuses (a string shows quoted), text first for thrown values (an Error shows its message).
 */
export function describe (value: unknown, first: 'text' | 'json' = 'text'): string {
  for (const attempt of first === 'text' ? [asText, asJson] : [asJson, asText]) {
    try {
      const text = attempt(value)
      if (typeof text === 'string') return text
    } catch {
      // Try the next way; the last resort below cannot throw.
    }
  }
  return unwritable(value)
}

function one (value: CheckObservation, durationMs: number, time: string): Observation {
  const { status, ...fields } = value
  if (status !== undefined && !isStatus(status)) {
    return { status: 'fail', observedValue: round(durationMs), observedUnit: 'ms', output: `check reported the unknown status ${describe(status, 'json')}`, time }
  }
  // The report is JSON: a field it cannot hold (a BigInt, a cycle) would fail every /health answer.
  try {
    JSON.stringify(fields)
  } catch (err) {
    return { status: 'fail', observedValue: round(durationMs), observedUnit: 'ms', output: `check returned an observation that is not JSON: ${describe(err)}`, time }
  }
  const measured = fields.observedValue === undefined ? { observedValue: round(durationMs), observedUnit: 'ms' } : {}
  return { status: status ?? 'pass', ...fields, ...measured, time }
}

/**
 * What a check's return value says, as observations: nothing (or true) is a pass measured by the
 * check's own duration; an object or an array of objects are observations; false or anything
 * else is a failure.
 */
export function fromValue (value: unknown, durationMs: number, time: string): Observation[] {
  if (value === undefined || value === null || value === true || (Array.isArray(value) && value.length === 0)) {
    return [{ status: 'pass', observedValue: round(durationMs), observedUnit: 'ms', time }]
  }
  const list: unknown[] = Array.isArray(value) ? value : [value]
  if (list.every(isPlainObject)) return list.map((entry) => one(entry as CheckObservation, durationMs, time))
  const output = value === false ? 'check returned false' : 'check returned neither nothing, an observation object nor an array of them'
  return [{ status: 'fail', observedValue: round(durationMs), observedUnit: 'ms', output, time }]
}

export function fromError (err: unknown, durationMs: number, time: string): Observation[] {
  const output = describe(err)
  return [{ status: 'fail', observedValue: round(durationMs), observedUnit: 'ms', output, time }]
}

export function statusOf (observations: readonly Observation[]): HealthStatus {
  return observations.reduce<HealthStatus>((status, o) => worst(status, o.status), 'pass')
}
