import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { describe, expect, test } from 'tstyche'
import health, {
  errors, health as named, redisCheck, CheckCancelledError, CheckStuckError, CheckTimeoutError, DrainDeadlineError, DuplicateCheckError,
  type CheckDefinition, type CheckOptions, type EventLoopDelayOptions, type HealthApi, type HealthOptions, type HealthReport
} from '@scaleout/health'

const app = Fastify()

describe('@scaleout/health exports', () => {
  test('the default and the named export are the same plugin', () => {
    expect(named).type.toBe(health)
  })
})

describe('@scaleout/health options', () => {
  test('correct options compile', () => {
    expect(app.register(health)).type.not.toRaiseError()
    expect(app.register(health, { redis: false })).type.not.toRaiseError()
    expect(app.register(health, { redis: 'redis://127.0.0.1:6380' })).type.not.toRaiseError()
    expect(app.register(health, {
      redis: new Redis({ lazyConnect: true }),
      redisCheck: { timeout: '500ms', interval: 2000 },
      checks: { db: async (signal) => { signal.throwIfAborted() }, search: { check: () => true, critical: false, timeout: 500, interval: '10s' } },
      paths: { details: false },
      prefix: '/api',
      logLevel: 'info',
      eventLoopDelay: { warn: '50ms', fail: 500, interval: '1s' },
      heap: { warnPercent: 80, failPercent: 90, interval: 5000 },
      instanceHeader: true,
      signals: ['SIGTERM'],
      drainDelay: '10s',
      drainDeadline: 25_000
    })).type.not.toRaiseError()
  })

  test('misuse fails to compile', () => {
    expect(app.register(health, { redis: true })).type.toRaiseError()
    expect(app.register(health, { chekcs: {} })).type.toRaiseError("'chekcs' does not exist")
    expect(app.register(health, { checks: { db: { critical: true } } })).type.toRaiseError()
    expect(app.register(health, { checks: { db: 'SELECT 1' } })).type.toRaiseError()
    expect(app.register(health, { paths: { live: true } })).type.toRaiseError()
    expect(app.register(health, { signals: ['SIGNOPE'] })).type.toRaiseError()
    expect(app.register(health, { exposeDetails: 'yes' })).type.toRaiseError()
    expect(app.register(health, { drainDelay: true })).type.toRaiseError()
    expect(app.register(health, { prefix: 42 })).type.toRaiseError()
    expect(app.register(health, { logSerializers: { req: () => ({}) } })).type.toRaiseError()
  })

  test('the renamed options of the previous release fail to compile', () => {
    expect(app.register(health, { drainDelayMs: 5000 })).type.toRaiseError("'drainDelayMs' does not exist")
    expect(app.register(health, { drainDeadlineMs: 5000 })).type.toRaiseError("'drainDeadlineMs' does not exist")
    expect({ timeoutMs: 500 }).type.not.toBeAssignableTo<CheckOptions>()
    expect({ intervalMs: 500 }).type.not.toBeAssignableTo<CheckOptions>()
    expect({ warnMs: 50 }).type.not.toBeAssignableTo<EventLoopDelayOptions>()
    expect({ timeout: 500, interval: '2s' }).type.toBeAssignableTo<CheckOptions>()
    expect<HealthOptions>().type.toHaveProperty('prefix')
  })

  test('redisCheck() builds a check definition from a client', () => {
    expect(redisCheck(new Redis({ lazyConnect: true }), { critical: false, timeout: '1s' })).type.toBe<CheckDefinition>()
    expect(redisCheck('redis://127.0.0.1:6380')).type.toRaiseError()
    expect(redisCheck(new Redis({ lazyConnect: true }), { timeoutMs: 1000 })).type.toRaiseError()
  })
})

describe('@scaleout/health decorator', () => {
  test('fastify.health reports, refreshes, drains and adds checks', () => {
    expect(app.health).type.toBe<HealthApi>()
    expect(app.health.report()).type.toBe<HealthReport>()
    expect(app.health.refresh()).type.toBe<Promise<HealthReport>>()
    expect(app.health.drain('deploy')).type.toBe<Promise<void>>()
    expect(app.health.addCheck('queue', async () => 42, { critical: false, interval: '5s' })).type.toBe<void>()
    expect(app.health.identity.id).type.toBe<string>()
    expect(app.health.draining).type.toBe<boolean>()
    expect(app.health.started).type.toBe<boolean>()
  })

  test('misuse fails to compile', () => {
    expect(app.health.addCheck('queue')).type.toRaiseError()
    expect(app.health.addCheck('queue', async () => 42, { critical: 'no' })).type.toRaiseError()
    expect(app.health.addCheck('queue', async () => 42, { intervalMs: 100 })).type.toRaiseError()
    expect(app.health.draining = true).type.toRaiseError()
  })
})

describe('@scaleout/health errors', () => {
  test('errors carry their code and status as literal types', () => {
    expect(new DuplicateCheckError().code).type.toBe<'SCALEOUT_ERR_HEALTH_DUPLICATE_CHECK'>()
    expect(new CheckTimeoutError().statusCode).type.toBe<503>()
    expect(new CheckStuckError()).type.toBeAssignableTo<Error>()
    expect(new DrainDeadlineError().statusCode).type.toBe<500>()
  })

  test('the errors object holds the plugin\'s classes and the core ones by code, read-only', () => {
    expect(errors.SCALEOUT_ERR_HEALTH_DUPLICATE_CHECK).type.toBe<typeof DuplicateCheckError>()
    expect(errors.SCALEOUT_ERR_HEALTH_CHECK_TIMEOUT).type.toBe<typeof CheckTimeoutError>()
    expect(errors.SCALEOUT_ERR_HEALTH_CHECK_STUCK).type.toBe<typeof CheckStuckError>()
    expect(errors.SCALEOUT_ERR_HEALTH_CHECK_CANCELLED).type.toBe<typeof CheckCancelledError>()
    expect(errors.SCALEOUT_ERR_HEALTH_DRAIN_DEADLINE).type.toBe<typeof DrainDeadlineError>()
    expect(new errors.SCALEOUT_ERR_INVALID_OPTION().code).type.toBe<'SCALEOUT_ERR_INVALID_OPTION'>()
    expect(new errors.SCALEOUT_ERR_REDIS_AUTH().code).type.toBe<'SCALEOUT_ERR_REDIS_AUTH'>()
    expect(errors).type.not.toHaveProperty('SCALEOUT_ERR_PROXY_CONFLICT')
    expect(errors.SCALEOUT_ERR_HEALTH_CHECK_STUCK = CheckStuckError).type.toRaiseError()
  })
})
