import Fastify from 'fastify'
import { describe, expect, test } from 'tstyche'
import proxy, { errors, proxy as named, trustProxy, PRESETS, DecoratorConflictError, UnsafeFastifyError, type ForwardedInfo, type ProxyOptions } from '@scaleout/proxy'

const app = Fastify()

describe('@scaleout/proxy options', () => {
  test('the default and the named export are the same plugin', () => {
    expect(named).type.toBe(proxy)
  })

  test('correct options compile', () => {
    expect(app.register(proxy, { trust: 'loopback' })).type.not.toRaiseError()
    expect(app.register(proxy, { trust: ['loopback', '10.0.0.0/8'], maxHops: 2, header: 'forwarded', allowedHosts: ['shop.example.com'] })).type.not.toRaiseError()
  })

  test('misuse fails to compile', () => {
    expect(app.register(proxy)).type.toRaiseError()
    expect(app.register(proxy, {})).type.toRaiseError()
    expect(app.register(proxy, { trust: true })).type.toRaiseError()
    expect(app.register(proxy, { trust: 'loopback', header: 'x-client-ip' })).type.toRaiseError()
    expect(app.register(proxy, { trust: 'loopback', maxhops: 2 })).type.toRaiseError("'maxhops' does not exist")
    expect(app.register(proxy, { trust: 'loopback', maxHops: '2' })).type.toRaiseError()
    expect({ trust: 'loopback', allowedHost: ['a.example'] }).type.not.toBeAssignableTo<ProxyOptions>()
  })

  test('Fastify\'s register keys fail to compile: the plugin has no routes for them', () => {
    expect(app.register(proxy, { trust: 'loopback', prefix: '/api' })).type.toRaiseError()
    expect(app.register(proxy, { trust: 'loopback', logLevel: 'warn' })).type.toRaiseError()
    expect(app.register(proxy, { trust: 'loopback', logSerializers: {} })).type.toRaiseError()
  })

  test('trustProxy() gives Fastify\'s trustProxy function for X-Forwarded-For only', () => {
    expect(trustProxy({ trust: ['loopback'] })).type.toBe<(address: string, hop: number) => boolean>()
    expect(Fastify({ trustProxy: trustProxy({ trust: 'private' }) })).type.not.toRaiseError()
    expect(trustProxy({ trust: 'loopback', header: 'forwarded' })).type.toRaiseError()
    expect(PRESETS).type.toBe<Readonly<Record<string, readonly string[]>>>()
  })
})

describe('@scaleout/proxy decorator', () => {
  test('request.forwarded is read-only', () => {
    app.get('/', async (request) => {
      expect(request.forwarded).type.toBe<ForwardedInfo>()
      expect(request.forwarded.chain[0]?.address).type.toBe<string | null | undefined>()
      expect(request.forwarded = { source: 'socket', chain: [], chosen: 0, stop: 'end' }).type.toRaiseError()
      return request.ip
    })
  })
})

describe('@scaleout/proxy errors', () => {
  test('errors carry their code as a literal type', () => {
    expect(new DecoratorConflictError().code).type.toBe<'SCALEOUT_ERR_PROXY_CONFLICT'>()
    expect(new DecoratorConflictError().statusCode).type.toBe<500>()
    expect(new UnsafeFastifyError().code).type.toBe<'SCALEOUT_ERR_PROXY_UNSAFE_FASTIFY'>()
  })

  test('the errors object holds the plugin\'s class and the core ones by code, read-only', () => {
    expect(errors.SCALEOUT_ERR_PROXY_CONFLICT).type.toBe<typeof DecoratorConflictError>()
    expect(errors.SCALEOUT_ERR_PROXY_UNSAFE_FASTIFY).type.toBe<typeof UnsafeFastifyError>()
    expect(new errors.SCALEOUT_ERR_INVALID_OPTION().code).type.toBe<'SCALEOUT_ERR_INVALID_OPTION'>()
    expect(errors).type.not.toHaveProperty('SCALEOUT_ERR_HEALTH_DUPLICATE_CHECK')
    expect(errors.SCALEOUT_ERR_PROXY_CONFLICT = DecoratorConflictError).type.toRaiseError()
  })
})
