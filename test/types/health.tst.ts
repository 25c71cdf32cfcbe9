import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { describe, expect, test } from 'tstyche'
import health, {
  redisCheck, CheckStuckError, CheckTimeoutError, DrainDeadlineError, DuplicateCheckError,
  type CheckDefinition, type HealthApi, type HealthOptions, type HealthReport
} from '@scaleout/health'

const app = Fastify()

describe('@scaleout/health options', () => {
  test('correct options compile', () => {
    expect(app.register(health)).type.not.toRaiseError()
    expect(app.register(health, {
      redis: new Redis({ lazyConnect: true }),
      checks: { db: async (signal) => { signal.throwIfAborted() }, search: { check: () => true, critical: false } },
      paths: { details: false },
      instanceHeader: true,
      signals: ['SIGTERM']
    })).type.not.toRaiseError()
  })

  test('misuse fails to compile', () => {
    expect(app.register(health, { chekcs: {} })).type.toRaiseError("'chekcs' does not exist")
    expect(app.register(health, { checks: { db: { critical: true } } })).type.toRaiseError()
    expect(app.register(health, { checks: { db: 'SELECT 1' } })).type.toRaiseError()
    expect(app.register(health, { paths: { live: true } })).type.toRaiseError()
    expect(app.register(health, { signals: ['SIGNOPE'] })).type.toRaiseError()
    expect(app.register(health, { exposeDetails: 'yes' })).type.toRaiseError()
    expect<HealthOptions>().type.not.toHaveProperty('prefix')
  })

  test('redisCheck() builds a check definition from a client', () => {
    expect(redisCheck(new Redis({ lazyConnect: true }), { critical: false })).type.toBe<CheckDefinition>()
    expect(redisCheck('redis://127.0.0.1:6380')).type.toRaiseError()
  })
})

describe('@scaleout/health decorator', () => {
  test('fastify.health reports, refreshes, drains and adds checks', () => {
    expect(app.health).type.toBe<HealthApi>()
    expect(app.health.report()).type.toBe<HealthReport>()
    expect(app.health.refresh()).type.toBe<Promise<HealthReport>>()
    expect(app.health.drain('deploy')).type.toBe<Promise<void>>()
    expect(app.health.addCheck('queue', async () => 42, { critical: false })).type.toBe<void>()
    expect(app.health.identity.id).type.toBe<string>()
  })

  test('misuse fails to compile', () => {
    expect(app.health.addCheck('queue')).type.toRaiseError()
    expect(app.health.addCheck('queue', async () => 42, { critical: 'no' })).type.toRaiseError()
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
})
