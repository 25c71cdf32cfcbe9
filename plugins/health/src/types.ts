import type { InstanceIdentity, RedisOption } from '@scaleout/core'
import type { LogLevel } from 'fastify'

/** The three states of application/health+json (draft-inadarei-api-health-check). */
export type HealthStatus = 'pass' | 'warn' | 'fail'

/**
 * One observation in a check's result: an entry of the `checks` arrays of the details route.
 * Extra fields (componentId, componentType, affectedEndpoints...) are passed through as given.
 */
export interface CheckObservation {
  /** Defaults to `pass` when the check returned normally. */
  status?: HealthStatus
  observedValue?: unknown
  observedUnit?: string
  componentId?: string
  componentType?: string
  /** Why a check warns or fails. */
  output?: string
  [field: string]: unknown
}

/**
 * A check: resolve (with nothing, or with observations) for pass, throw or reject for fail.
 * `signal` aborts when the check's timeout expires, so a check can cancel its own work.
 * When it reports no `observedValue`, the check's own duration in milliseconds is reported.
 */
export type CheckFunction = (signal: AbortSignal) => unknown

export interface CheckOptions {
  /** A failing critical check fails readiness; a non-critical one only makes the status `warn`. Default true. */
  critical?: boolean
  /** How long one run may take before it counts as failed: milliseconds or a string such as "2s". Default 1000 (1ms to 24h). */
  timeout?: number | string
  /** Between the starts of two runs: milliseconds or a string such as "5s". Default 2000 (10ms to 24h). */
  interval?: number | string
  /** The measurement half of the `name:measurement` key. Default "responseTime". */
  measurement?: string
}

/** A check as given in the `checks` option or returned by `redisCheck()`. */
export interface CheckDefinition extends CheckOptions {
  check: CheckFunction
}

/** The cached result of one check, as the details route shows it. */
export interface CheckResult {
  /** `name:measurement`. */
  readonly key: string
  readonly critical: boolean
  /** The worst status among the observations (before `critical` is applied). */
  readonly status: HealthStatus
  readonly observations: ReadonlyArray<Readonly<CheckObservation> & { status: HealthStatus, time: string }>
}

/** The body of the details route when details are shown. */
export interface HealthReport {
  status: HealthStatus
  instance: string
  version: string
  /** Seconds since the process started. */
  uptime: number
  output?: string
  checks: Record<string, CheckResult['observations']>
}

export interface HealthPaths {
  /** Default "/health/live"; `false` leaves the route out. */
  live?: string | false
  /** Default "/health/ready". */
  ready?: string | false
  /** Default "/health/startup". */
  startup?: string | false
  /** Default "/health". */
  details?: string | false
}

export interface EventLoopDelayOptions {
  /** p99 delay over one interval at or above which the check warns: milliseconds or a string such as "100ms". Default 100 (1ms to 1m). */
  warn?: number | string
  /** p99 delay at or above which it fails (and liveness answers 503). Default 1000 (1ms to 1m). */
  fail?: number | string
  /** Between two runs: milliseconds or a string. Default 1000. */
  interval?: number | string
}

export interface HeapOptions {
  /** Heap used as a percentage of the V8 heap limit at or above which the check warns. Default 85. */
  warnPercent?: number
  /** Percentage at or above which it fails (and liveness answers 503). Default 95. */
  failPercent?: number
  /** Between two runs: milliseconds or a string. Default 5000. */
  interval?: number | string
}

export interface HealthOptions {
  /** Route paths; every route answers GET and HEAD. */
  paths?: HealthPaths
  /**
   * Prepended to every health path: `'/api'` serves `/api/health/ready`. (Fastify ignores `prefix`
   * for plugins wrapped in fastify-plugin; this plugin applies it itself.)
   */
  prefix?: string
  /** Log level of the health routes' request logs. Default "silent": probes do not flood the logs. */
  logLevel?: LogLevel
  /** Refused at registration: the health routes take no log serializers of their own. */
  logSerializers?: never
  /** Readiness checks by name (letters, digits, `_`, `-`, `.`). */
  checks?: Record<string, CheckFunction | CheckDefinition>
  /**
   * A Redis to PING as the critical check `redis:responseTime`: any form of the scaleout `redis`
   * option (an ioredis Redis or Cluster you own, a URL, `{ url }`, `{ cluster }`, `{ sentinels, name }`).
   * Absent: `fastify.redis` (@fastify/redis) when registered, else `REDIS_URL` when set, as the other
   * scaleout plugins resolve it; else no Redis check. `false`: no Redis check.
   */
  redis?: RedisOption | false
  /** Options of that Redis check (timeout, interval, critical). */
  redisCheck?: CheckOptions
  /** The liveness check `eventLoop:delay`; `false` turns it off. On by default. */
  eventLoopDelay?: EventLoopDelayOptions | false
  /** The liveness check `heap:utilization`; `true` for the defaults. Off by default. */
  heap?: HeapOptions | boolean
  /** Show full details on the details route to every caller. Default false. */
  exposeDetails?: boolean
  /**
   * Addresses or CIDR ranges (matched against `request.ip`) that see full details. Default: nobody.
   * A request carrying forwarding headers whose request.ip is still the socket peer never counts.
   */
  detailsAllowList?: string[]
  /** Add a response header naming the instance on every response: `true` for "x-served-by", or a header name. Default false. */
  instanceHeader?: boolean | string
  /** Bind `instance` into every request's logger. Default true (no-op when logging is off). */
  logInstance?: boolean
  /** Signals that start a drain. Default ["SIGTERM", "SIGINT"]; `false` or [] installs no listener. */
  signals?: NodeJS.Signals[] | false
  /** How long readiness fails before `fastify.close()` starts: milliseconds or a string such as "10s". Default 10000 (0 to 1h). */
  drainDelay?: number | string
  /** From the start of a drain to a forced exit. Default 25000, or drainDelay + 15000 when larger (1ms to 24h); must exceed drainDelay. */
  drainDeadline?: number | string
  /** Called with the exit code at the end of a drain. Default `process.exit`. */
  exit?: (code: number) => void
  /** The service version when APP_VERSION is not set. */
  version?: string
}

/** `fastify.health`. */
export interface HealthApi {
  /** Who this instance is (HOSTNAME, pid, APP_VERSION, start time). */
  readonly identity: InstanceIdentity
  /** True once a drain has begun. */
  readonly draining: boolean
  /** True once the server was ready and every critical check passed once. */
  readonly started: boolean
  /** Adds a readiness check; it runs at once when the server is already ready. */
  addCheck: (name: string, check: CheckFunction, options?: CheckOptions) => void
  /** The full report from the cached results (no check runs). */
  report: () => HealthReport
  /** Runs every check now and resolves with the report. */
  refresh: () => Promise<HealthReport>
  /**
   * Readiness fails at once, `fastify.close()` follows after drainDelay, then `exit` is called
   * (0 when closed cleanly, 1 on error or at the deadline). Resolves once `exit` was called.
   * Calling it again returns the same promise.
   */
  drain: (reason?: string) => Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Health state, checks and the graceful drain of @scaleout/health. */
    health: HealthApi
  }
}
