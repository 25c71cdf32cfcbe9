import Fastify from 'fastify'
import { describe, expect, test } from 'tstyche'
import proxy, { proxy as named, trustProxy, PRESETS, DecoratorConflictError, type ForwardedInfo } from '@scaleout/proxy'

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
  })
})
