import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { describe, expect, test } from 'tstyche'
import { coreErrors } from '@scaleout/core'
import cache, {
  BreakerOpenError, cache as named, CorruptEntryError, errors, InvalidCallOptionError, InvalidKeyError, jsonCodec,
  type CacheOptions, type CacheStats, type RouteCacheOptions, type SetOptions
} from '@scaleout/cache'

const app = Fastify()

describe('@scaleout/cache exports', () => {
  test('the default and the named export are the same plugin', () => {
    expect(named).type.toBe(cache)
    expect(named).type.toBe<typeof cache>()
  })

  test('errors holds the core errors and every cache error class, keyed by code', () => {
    expect(errors).type.toBeAssignableTo<typeof coreErrors>()
    expect(errors.SCALEOUT_ERR_CACHE_KEY).type.toBe<typeof InvalidKeyError>()
    expect(errors.SCALEOUT_ERR_CACHE_OPTION).type.toBe<typeof InvalidCallOptionError>()
    expect(errors.SCALEOUT_ERR_CACHE_BREAKER_OPEN).type.toBe<typeof BreakerOpenError>()
    expect(errors.SCALEOUT_ERR_CACHE_CORRUPT_ENTRY).type.toBe<typeof CorruptEntryError>()
    expect(errors.SCALEOUT_ERR_INVALID_OPTION).type.toBe<typeof coreErrors.SCALEOUT_ERR_INVALID_OPTION>()
    expect(errors).type.not.toHaveProperty('SCALEOUT_ERR_CACHE_NOPE')
  })
})

describe('@scaleout/cache options', () => {
  test('correct options compile', () => {
    expect(app.register(cache)).type.not.toRaiseError()
    expect(app.register(cache, { redis: 'redis://127.0.0.1:6380', ttl: '10m', staleTtl: 60_000, timeout: '500ms' })).type.not.toRaiseError()
    expect(app.register(cache, { redis: new Redis({ lazyConnect: true }), l1: { maxEntries: 1000, maxBytes: 1024, ttl: 5000 }, codec: jsonCodec, breaker: false })).type.not.toRaiseError()
    expect(app.register(cache, { prefix: 'app:', breaker: { threshold: 3, cooldown: '2s' }, heartbeatInterval: false, lockTtl: 10_000, lockWait: '3s' })).type.not.toRaiseError()
  })

  test('an unknown option or a wrong type fails to compile', () => {
    expect({ tll: 60 }).type.not.toBeAssignableTo<CacheOptions>()
    expect({ timeoutMs: 250 }).type.not.toBeAssignableTo<CacheOptions>()
    expect({ breaker: { cooldownMs: 500 } }).type.not.toBeAssignableTo<CacheOptions>()
    expect({ l1: { maxEntry: 10 } }).type.not.toBeAssignableTo<CacheOptions>()
    expect({ ttl: true }).type.not.toBeAssignableTo<CacheOptions>()
    expect({ l1: 'yes' }).type.not.toBeAssignableTo<CacheOptions>()
    expect({ codec: JSON }).type.not.toBeAssignableTo<CacheOptions>()
    expect({ heartbeatInterval: true }).type.not.toBeAssignableTo<CacheOptions>()
    expect(app.register(cache, { tll: 60 })).type.toRaiseError("'tll' does not exist")
    expect(app.register(cache, { timeoutMs: 250 })).type.toRaiseError("'timeoutMs' does not exist")
    expect<CacheOptions>().type.not.toHaveProperty('store')
  })
})

describe('@scaleout/cache decorator', () => {
  test('fastify.cache keeps the value types', () => {
    expect(app.cache.wrap('user:1', async () => ({ id: 1 }))).type.toBe<Promise<{ id: number }>>()
    expect(app.cache.wrap('user:1', () => 'sync', { ttl: '1m', tags: ['user:1'] })).type.toBe<Promise<string>>()
    expect(app.cache.get<{ id: number }>('user:1')).type.toBe<Promise<{ id: number } | undefined>>()
    expect(app.cache.set('user:1', { id: 1 }, { ttl: 60_000 })).type.toBe<Promise<void>>()
    expect(app.cache.del('user:1')).type.toBe<Promise<void>>()
    expect(app.cache.invalidateTags(['user:1'])).type.toBe<Promise<void>>()
    expect(app.cache.clear()).type.toBe<Promise<void>>()
    expect(app.cache.stats()).type.toBe<CacheStats>()
  })

  test('misuse fails to compile', () => {
    expect(app.cache.wrap(1, async () => 1)).type.toRaiseError()
    expect(app.cache.wrap('key', async () => 1, { tags: 'one' })).type.toRaiseError()
    expect(app.cache.invalidateTags('one')).type.toRaiseError()
    expect(app.cache.set('key', 1, { ttl: null })).type.toRaiseError()
    expect({ tll: 60 }).type.not.toBeAssignableTo<SetOptions>()
  })
})

describe('@scaleout/cache route config', () => {
  test('config.cache takes a ttl and optional key, vary, tags, scope and maxEntries', () => {
    expect(app.get('/a', { config: { cache: { ttl: 60_000 } } }, async () => 'ok')).type.not.toRaiseError()
    expect(app.get('/b', { config: { cache: { ttl: '1m', key: (request) => request.url, vary: ['accept'], tags: ['b'], scope: 'private', maxEntries: 100 } } }, async () => 'ok')).type.not.toRaiseError()
  })

  test('misuse fails to compile', () => {
    expect(app.get('/c', { config: { cache: {} } }, async () => 'ok')).type.toRaiseError()
    expect(app.get('/d', { config: { cache: { ttl: 60, scope: 'shared' } } }, async () => 'ok')).type.toRaiseError()
    expect(app.get('/e', { config: { cache: { ttl: 60, key: 'fixed' } } }, async () => 'ok')).type.toRaiseError()
    expect(app.get('/f', { config: { cache: true } }, async () => 'ok')).type.toRaiseError()
    expect({ ttl: '1m', tag: ['a'] }).type.not.toBeAssignableTo<RouteCacheOptions>()
  })
})
