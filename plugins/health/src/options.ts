import { constants } from 'node:os'
import { checkBoolean, checkDuration, checkFunction, checkKeys, checkOptions, checkString, invalid, isPlainObject, type RedisOption } from '@scaleout/core'
import type { LogLevel } from 'fastify'
import { detailsGate, type DetailsGate } from './address.js'
import { isReservedHeader } from './reserved-headers.js'
import type { CheckDefinition, CheckFunction, CheckOptions } from './types.js'

export const PLUGIN = '@scaleout/health'

export interface CheckSettings {
  critical: boolean
  /** Milliseconds. */
  timeout: number
  /** Milliseconds. */
  interval: number
  measurement: string
}

export interface ThresholdSettings {
  warn: number
  fail: number
  /** Milliseconds. */
  interval: number
}

export interface Settings {
  /** The full route paths, `prefix` included. */
  paths: { live: string | false, ready: string | false, startup: string | false, details: string | false }
  logLevel: LogLevel
  checks: Array<{ name: string, check: CheckFunction, settings: CheckSettings }>
  /** false: no Redis check; undefined: fastify.redis, else REDIS_URL, else none. */
  redis: RedisOption | false | undefined
  redisCheck: CheckSettings
  eventLoopDelay: ThresholdSettings | false
  heap: ThresholdSettings | false
  exposeDetails: boolean
  detailsAllowed: DetailsGate
  instanceHeader: string | false
  logInstance: boolean
  signals: NodeJS.Signals[]
  /** Milliseconds. */
  drainDelay: number
  /** Milliseconds. */
  drainDeadline: number
  exit: (code: number) => void
  version: string | undefined
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/
const PATH = /^\/[^?#\s]*$/
const HEADER = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
// `prefix` and `logLevel` are Fastify register keys that Fastify ignores for a fastify-plugin
// plugin; this one honours both itself (prefixed paths, the routes' log level).
const KNOWN = ['paths', 'prefix', 'logLevel', 'checks', 'redis', 'redisCheck', 'eventLoopDelay', 'heap', 'exposeDetails',
  'detailsAllowList', 'instanceHeader', 'logInstance', 'signals', 'drainDelay', 'drainDeadline', 'exit', 'version']
const CHECK_KEYS = ['critical', 'timeout', 'interval', 'measurement']
const ROUTES = ['live', 'ready', 'startup', 'details'] as const

// A day bounds every duration (an hour the drain delay): far beyond any sensible probe or drain,
// well under the timer limit.
const DAY = 86_400_000
const HOUR = 3_600_000

export const DEFAULT_PATHS = Object.freeze({ live: '/health/live', ready: '/health/ready', startup: '/health/startup', details: '/health' })

function duration (option: string, value: unknown, fallback: number, min: number, max = DAY): number {
  return value === undefined ? fallback : checkDuration(PLUGIN, option, value, { min, max })
}

export function checkName (option: string, value: unknown): string {
  return checkString(PLUGIN, option, value, NAME, 'a name of 1 to 64 letters, digits, "_", "-" or "."')
}

/** Validates the options of one check; `option` names where they came from in errors. */
export function checkSettings (option: string, value: CheckOptions | undefined): CheckSettings {
  if (value === undefined) value = {}
  if (!isPlainObject(value)) throw invalid(PLUGIN, option, 'an object of check options')
  checkKeys(PLUGIN, option, value, CHECK_KEYS)
  const critical = value.critical === undefined ? true : checkBoolean(PLUGIN, `${option}.critical`, value.critical)
  const timeout = duration(`${option}.timeout`, value.timeout, 1000, 1)
  const interval = duration(`${option}.interval`, value.interval, 2000, 10)
  const measurement = value.measurement === undefined ? 'responseTime' : checkName(`${option}.measurement`, value.measurement)
  return { critical, timeout, interval, measurement }
}

function checks (value: unknown): Settings['checks'] {
  if (value === undefined) return []
  if (!isPlainObject(value)) throw invalid(PLUGIN, 'checks', 'an object of checks by name')
  return Object.entries(value).map(([name, entry]) => {
    checkName(`checks.${name}`, name)
    if (typeof entry === 'function') return { name, check: entry as CheckFunction, settings: checkSettings(`checks.${name}`, undefined) }
    if (!isPlainObject(entry)) throw invalid(PLUGIN, `checks.${name}`, 'a check function or { check, critical, timeout, interval, measurement }')
    const { check, ...rest } = entry as unknown as CheckDefinition
    return { name, check: checkFunction<CheckFunction>(PLUGIN, `checks.${name}.check`, check), settings: checkSettings(`checks.${name}`, rest) }
  })
}

function percent (option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 100) throw invalid(PLUGIN, option, 'a number above 0 and at most 100')
  return value
}

function thresholds (option: string, value: unknown, unit: 'ms' | '%', defaults: ThresholdSettings): ThresholdSettings | false {
  if (value === false || value === undefined) return value === undefined && unit === 'ms' ? { ...defaults } : false
  if (value === true) return { ...defaults }
  if (!isPlainObject(value)) throw invalid(PLUGIN, option, 'false, true or an object of thresholds')
  const [warnKey, failKey] = unit === 'ms' ? ['warn', 'fail'] : ['warnPercent', 'failPercent']
  checkKeys(PLUGIN, option, value, [warnKey, failKey, 'interval'])
  // The event-loop thresholds are durations (a p99 delay); the heap's are percentages.
  const read = (key: string, fallback: number): number => unit === 'ms'
    ? duration(`${option}.${key}`, value[key], fallback, 1, 60_000)
    : percent(`${option}.${key}`, value[key], fallback)
  const warn = read(warnKey, defaults.warn)
  const fail = read(failKey, defaults.fail)
  if (fail < warn) throw invalid(PLUGIN, `${option}.${failKey}`, `a threshold at least ${option}.${warnKey} (${warn}${unit})`)
  return { warn, fail, interval: duration(`${option}.interval`, value.interval, defaults.interval, 10) }
}

function prefix (value: unknown): string {
  if (value === undefined) return ''
  // Trailing slashes are dropped so '/api/' + '/health' is '/api/health'; '/' alone adds nothing.
  return checkString(PLUGIN, 'prefix', value, PATH, 'a path starting with "/" (no query string)').replace(/\/+$/, '')
}

function paths (value: unknown, before: string): Settings['paths'] {
  const given = value === undefined ? {} : value
  if (!isPlainObject(given)) throw invalid(PLUGIN, 'paths', 'an object of route paths')
  checkKeys(PLUGIN, 'paths', given, ROUTES)
  const result: Settings['paths'] = { ...DEFAULT_PATHS }
  for (const route of ROUTES) {
    const path = given[route] ?? DEFAULT_PATHS[route]
    if (path !== false) checkString(PLUGIN, `paths.${route}`, path, PATH, 'false or a path starting with "/" (no query string)')
    result[route] = path === false ? false : `${before}${path as string}`
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
  const name = checkString(PLUGIN, 'instanceHeader', value, HEADER, 'a boolean or an HTTP header name').toLowerCase()
  if (isReservedHeader(name)) {
    throw invalid(PLUGIN, 'instanceHeader', `a header name of your own such as "x-instance-id", not ${name}: ` +
      'a standard header that clients, proxies or caches act on, so an instance id in it would corrupt every response')
  }
  return name
}

/** Checks and normalises every option before anything is decorated or registered. */
export function normalise (raw: unknown): Settings {
  const options = checkOptions(PLUGIN, raw, KNOWN)
  const logLevel = options.logLevel ?? 'silent'
  if (typeof logLevel !== 'string' || !LEVELS.has(logLevel)) throw invalid(PLUGIN, 'logLevel', `one of ${[...LEVELS].join(', ')}`)
  const drainDelay = duration('drainDelay', options.drainDelay, 10_000, 0, HOUR)
  const drainDeadline = duration('drainDeadline', options.drainDeadline, Math.max(25_000, drainDelay + 15_000), 1)
  if (drainDeadline <= drainDelay) throw invalid(PLUGIN, 'drainDeadline', `a duration longer than drainDelay (${drainDelay}ms)`)
  if (options.redis === null) throw invalid(PLUGIN, 'redis', 'an ioredis Redis or Cluster, a redis:// URL, { url }, { cluster: [urls] } or { sentinels, name }')
  return {
    paths: paths(options.paths, prefix(options.prefix)),
    logLevel: logLevel as LogLevel,
    checks: checks(options.checks),
    redis: options.redis as RedisOption | false | undefined,
    redisCheck: checkSettings('redisCheck', options.redisCheck as CheckOptions | undefined),
    eventLoopDelay: thresholds('eventLoopDelay', options.eventLoopDelay, 'ms', { warn: 100, fail: 1000, interval: 1000 }),
    heap: thresholds('heap', options.heap, '%', { warn: 85, fail: 95, interval: 5000 }),
    exposeDetails: options.exposeDetails === undefined ? false : checkBoolean(PLUGIN, 'exposeDetails', options.exposeDetails),
    detailsAllowed: detailsGate(options.detailsAllowList),
    instanceHeader: instanceHeader(options.instanceHeader),
    logInstance: options.logInstance === undefined ? true : checkBoolean(PLUGIN, 'logInstance', options.logInstance),
    signals: signals(options.signals),
    drainDelay,
    drainDeadline,
    exit: options.exit === undefined ? (code) => process.exit(code) : checkFunction(PLUGIN, 'exit', options.exit),
    version: options.version === undefined ? undefined : checkString(PLUGIN, 'version', options.version)
  }
}
