import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { describe, expect, test } from 'tstyche'
import cache, { cache as named, jsonCodec, type CacheOptions, type CacheStats } from '@scaleout/cache'

const app = Fastify()

describe('@scaleout/cache options', () => {
  test('the default and the named export are the same plugin', () => {
    expect(named).type.toBe(cache)
  })

  test('correct options compile', () => {
    expect(app.register(cache)).type.not.toRaiseError()
    expect(app.register(cache, { redis: 'redis://127.0.0.1:6380', ttl: '10m', staleTtl: 60_000 })).type.not.toRaiseError()
    expect(app.register(cache, { redis: new Redis({ lazyConnect: true }), l1: { maxEntries: 1000 }, codec: jsonCodec, breaker: false })).type.not.toRaiseError()
  })

  test('misuse fails to compile', () => {
    expect(app.register(cache, { tll: 60 })).type.toRaiseError("'tll' does not exist")
    expect(app.register(cache, { ttl: true })).type.toRaiseError()
    expect(app.register(cache, { l1: 'yes' })).type.toRaiseError()
    expect(app.register(cache, { codec: JSON })).type.toRaiseError()
    expect<CacheOptions>().type.not.toHaveProperty('store')
  })
})

describe('@scaleout/cache decorator', () => {
  test('fastify.cache keeps the value types', () => {
    expect(app.cache.wrap('user:1', async () => ({ id: 1 }))).type.toBe<Promise<{ id: number }>>()
    expect(app.cache.wrap('user:1', () => 'sync', { ttl: '1m', tags: ['user:1'] })).type.toBe<Promise<string>>()
    expect(app.cache.get<{ id: number }>('user:1')).type.toBe<Promise<{ id: number } | undefined>>()
    expect(app.cache.set('user:1', { id: 1 }, { ttl: 60 })).type.toBe<Promise<void>>()
    expect(app.cache.invalidateTags(['user:1'])).type.toBe<Promise<void>>()
    expect(app.cache.stats()).type.toBe<CacheStats>()
  })

  test('misuse fails to compile', () => {
    expect(app.cache.wrap(1, async () => 1)).type.toRaiseError()
    expect(app.cache.wrap('key', async () => 1, { tags: 'one' })).type.toRaiseError()
    expect(app.cache.invalidateTags('one')).type.toRaiseError()
    expect(app.cache.set('key', 1, { ttl: null })).type.toRaiseError()
  })
})

describe('@scaleout/cache route config', () => {
  test('config.cache takes a ttl and optional key, vary, tags and scope', () => {
    expect(app.get('/a', { config: { cache: { ttl: 60 } } }, async () => 'ok')).type.not.toRaiseError()
    expect(app.get('/b', { config: { cache: { ttl: '1m', key: (request) => request.url, vary: ['accept'], tags: ['b'], scope: 'private' } } }, async () => 'ok')).type.not.toRaiseError()
  })

  test('misuse fails to compile', () => {
    expect(app.get('/c', { config: { cache: {} } }, async () => 'ok')).type.toRaiseError()
    expect(app.get('/d', { config: { cache: { ttl: 60, scope: 'shared' } } }, async () => 'ok')).type.toRaiseError()
    expect(app.get('/e', { config: { cache: { ttl: 60, key: 'fixed' } } }, async () => 'ok')).type.toRaiseError()
    expect(app.get('/f', { config: { cache: true } }, async () => 'ok')).type.toRaiseError()
  })
})
