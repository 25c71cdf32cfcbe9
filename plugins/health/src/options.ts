import { constants } from 'node:os'
import { checkBoolean, checkFunction, checkString, invalid, isPlainObject, parseDuration, MAX_TIMER_MS, type RedisOption } from '@scaleout/core'
import type { LogLevel } from 'fastify'
import { detailsGate, type DetailsGate } from './address.js'
import type { CheckDefinition, CheckFunction, CheckOptions, HealthOptions } from './types.js'

export const PLUGIN = '@scaleout/health'

export interface CheckSettings {
  critical: boolean
  timeoutMs: number
  intervalMs: number
  measurement: string
}

export interface ThresholdSettings {
  warn: number
  fail: number
  intervalMs: number
}

export interface Settings {
  paths: { live: string | false, ready: string | false, startup: string | false, details: string | false }
  logLevel: LogLevel
  checks: Array<{ name: string, check: CheckFunction, settings: CheckSettings }>
  redis: RedisOption | undefined
  redisCheck: CheckSettings
  eventLoopDelay: ThresholdSettings | false
  heap: ThresholdSettings | false
  exposeDetails: boolean
  detailsAllowed: DetailsGate
  instanceHeader: string | false
  logInstance: boolean
  signals: NodeJS.Signals[]
  drainDelayMs: number
  drainDeadlineMs: number
  exit: (code: number) => void
  version: string | undefined
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/
const PATH = /^\/[^?#\s]*$/
const HEADER = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
// Keys Fastify's register() itself understands; they reach the plugin too and are not typos.
const KNOWN = new Set(['paths', 'logLevel', 'checks', 'redis', 'redisCheck', 'eventLoopDelay', 'heap', 'exposeDetails',
  'detailsAllowList', 'instanceHeader', 'logInstance', 'signals', 'drainDelayMs', 'drainDeadlineMs', 'exit', 'version',
  'prefix', 'logSerializers'])

export const DEFAULT_PATHS = Object.freeze({ live: '/health/live', ready: '/health/ready', startup: '/health/startup', details: '/health' })

function duration (option: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  const ms = parseDuration(PLUGIN, option, value, 'ms')
  if (ms < min || ms > MAX_TIMER_MS) throw invalid(PLUGIN, option, `a duration from ${min}ms to ${MAX_TIMER_MS}ms`)
  return ms
}

export function checkName (option: string, value: unknown): string {
  return checkString(PLUGIN, option, value, NAME, 'a name of 1 to 64 letters, digits, "_", "-" or "."')
}

/** Validates the options of one check; `option` names where they came from in errors. */
export function checkSettings (option: string, value: CheckOptions | undefined): CheckSettings {
  if (value === undefined) value = {}
  if (!isPlainObject(value)) throw invalid(PLUGIN, option, 'an object of check options')
  const critical = value.critical === undefined ? true : checkBoolean(PLUGIN, `${option}.critical`, value.critical)
  const timeoutMs = duration(`${option}.timeoutMs`, value.timeoutMs, 1000, 1)
  const intervalMs = duration(`${option}.intervalMs`, value.intervalMs, 2000, 10)
  const measurement = value.measurement === undefined ? 'responseTime' : checkName(`${option}.measurement`, value.measurement)
  return { critical, timeoutMs, intervalMs, measurement }
}

function checks (value: unknown): Settings['checks'] {
  if (value === undefined) return []
  if (!isPlainObject(value)) throw invalid(PLUGIN, 'checks', 'an object of checks by name')
  return Object.entries(value).map(([name, entry]) => {
    checkName(`checks.${name}`, name)
    if (typeof entry === 'function') return { name, check: entry as CheckFunction, settings: checkSettings(`checks.${name}`, undefined) }
    if (!isPlainObject(entry)) throw invalid(PLUGIN, `checks.${name}`, 'a check function or { check, critical, timeoutMs, intervalMs, measurement }')
    const { check, ...rest } = entry as unknown as CheckDefinition
    return { name, check: checkFunction<CheckFunction>(PLUGIN, `checks.${name}.check`, check), settings: checkSettings(`checks.${name}`, rest) }
  })
}

function percentOrMs (option: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > max) throw invalid(PLUGIN, option, `a number above 0 and at most ${max}`)
  return value
}

function thresholds (option: string, value: unknown, unit: 'ms' | '%', defaults: ThresholdSettings): ThresholdSettings | false {
  if (value === false || value === undefined) return value === undefined && unit === 'ms' ? { ...defaults } : false
  if (value === true) return { ...defaults }
  if (!isPlainObject(value)) throw invalid(PLUGIN, option, 'false, true or an object of thresholds')
  const max = unit === 'ms' ? 60_000 : 100
  const [warnKey, failKey] = unit === 'ms' ? ['warnMs', 'failMs'] : ['warnPercent', 'failPercent']
  const warn = percentOrMs(`${option}.${warnKey}`, value[warnKey as string], defaults.warn, max)
  const fail = percentOrMs(`${option}.${failKey}`, value[failKey as string], defaults.fail, max)
  if (fail < warn) throw invalid(PLUGIN, `${option}.${failKey}`, `a threshold at least ${option}.${warnKey} (${warn})`)
  return { warn, fail, intervalMs: duration(`${option}.intervalMs`, value.intervalMs, defaults.intervalMs, 10) }
}

function paths (value: unknown): Settings['paths'] {
  if (value === undefined) return { ...DEFAULT_PATHS }
  if (!isPlainObject(value)) throw invalid(PLUGIN, 'paths', 'an object of route paths')
  const result: Settings['paths'] = { ...DEFAULT_PATHS }
  for (const route of Object.keys(value)) {
    if (!(route in DEFAULT_PATHS)) throw invalid(PLUGIN, `paths.${route}`, 'one of live, ready, startup, details')
    const path = value[route]
    if (path !== false) checkString(PLUGIN, `paths.${route}`, path, PATH, 'false or a path starting with "/" (no query string)')
    result[route as keyof Settings['paths']] = path as string | false
  }
  const used = Object.values(result).filter((p) => p !== false)
  if (new Set(used).size !== used.length) throw invalid(PLUGIN, 'paths', 'a different path for each route')
  return result
}

function signals (value: unknown): NodeJS.Signals[] {
  if (value === undefined) return ['SIGTERM', 'SIGINT']
  if (value === false) return []
  if (!Array.isArray(value) || value.some((s) => typeof s !== 'string' || !(s in constants.signals) || s === 'SIGKILL' || s === 'SIGSTOP')) {
    throw invalid(PLUGIN, 'signals', 'false or an array of signal names such as ["SIGTERM", "SIGINT"]')
  }
  return [...new Set(value as NodeJS.Signals[])]
}

function instanceHeader (value: unknown): string | false {
  if (value === undefined || value === false) return false
  if (value === true) return 'x-served-by'
  return checkString(PLUGIN, 'instanceHeader', value, HEADER, 'a boolean or an HTTP header name').toLowerCase()
}

/** Checks and normalises every option before anything is decorated or registered. */
export function normalise (options: HealthOptions): Settings {
  const raw: unknown = options
  if (!isPlainObject(raw)) throw invalid(PLUGIN, 'options', 'an object')
  for (const key of Object.keys(raw)) {
    if (!KNOWN.has(key)) throw invalid(PLUGIN, key, `a known option (${[...KNOWN].slice(0, -2).join(', ')})`)
  }
  const logLevel = options.logLevel ?? 'silent'
  if (!LEVELS.has(logLevel)) throw invalid(PLUGIN, 'logLevel', `one of ${[...LEVELS].join(', ')}`)
  const drainDelayMs = duration('drainDelayMs', options.drainDelayMs, 10_000, 0)
  const drainDeadlineMs = duration('drainDeadlineMs', options.drainDeadlineMs, Math.max(25_000, drainDelayMs + 15_000), 1)
  if (drainDeadlineMs <= drainDelayMs) throw invalid(PLUGIN, 'drainDeadlineMs', `a duration longer than drainDelayMs (${drainDelayMs}ms)`)
  if (options.redis === null) throw invalid(PLUGIN, 'redis', 'an ioredis Redis or Cluster, a redis:// URL, { url }, { cluster: [urls] } or { sentinels, name }')
  return {
    paths: paths(options.paths),
    logLevel,
    checks: checks(options.checks),
    redis: options.redis,
    redisCheck: checkSettings('redisCheck', options.redisCheck),
    eventLoopDelay: thresholds('eventLoopDelay', options.eventLoopDelay, 'ms', { warn: 100, fail: 1000, intervalMs: 1000 }),
    heap: thresholds('heap', options.heap, '%', { warn: 85, fail: 95, intervalMs: 5000 }),
    exposeDetails: options.exposeDetails === undefined ? false : checkBoolean(PLUGIN, 'exposeDetails', options.exposeDetails),
    detailsAllowed: detailsGate(options.detailsAllowList),
    instanceHeader: instanceHeader(options.instanceHeader),
    logInstance: options.logInstance === undefined ? true : checkBoolean(PLUGIN, 'logInstance', options.logInstance),
    signals: signals(options.signals),
    drainDelayMs,
    drainDeadlineMs,
    exit: options.exit === undefined ? (code) => process.exit(code) : checkFunction(PLUGIN, 'exit', options.exit),
    version: options.version === undefined ? undefined : checkString(PLUGIN, 'version', options.version)
  }
}
