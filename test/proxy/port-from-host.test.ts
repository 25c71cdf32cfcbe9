import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import proxy from '@scaleout/proxy'
import { appFor } from '../helpers/index.js'

// request.hostname and request.port must describe request.host, the host the plugin chose. Fastify
// 5.0 to 5.8 (the plugin's peer range is ^5.0.0; 5.9 always read the raw Host) took the port from the raw Host header when
// request.host had none: a refused `Host: evil.example:1234` gave host '' with port 1234, a forwarded
// host without a port took the internal Host's port, and `[::1]` gave port 1 (parseInt('1]')).
// X-Forwarded-Port is never read: the port is the one written in request.host.

interface Seen { host: string, hostname: string, port: number | null }

async function app (t: Test, fastify: FastifyInstance = appFor(t)): Promise<(remoteAddress: string, headers: Record<string, string>) => Promise<Seen>> {
  await fastify.register(proxy, { trust: ['10.0.0.0/8'], allowedHosts: ['shop.example.com', '[::1]'] })
  fastify.get('/', async (request) => ({ host: request.host, hostname: request.hostname, port: request.port }))
  return async (remoteAddress, headers) => {
    const response = await fastify.inject({ url: '/', remoteAddress, headers })
    t.equal(response.statusCode, 200)
    return response.json<Seen>()
  }
}

async function cases (t: Test, send: (remoteAddress: string, headers: Record<string, string>) => Promise<Seen>): Promise<void> {
  t.same(await send('203.0.113.7', { host: 'evil.example:1234' }), { host: '', hostname: '', port: null }, 'a refused Host has no port either')
  t.same(await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'shop.example.com', host: 'origin.internal:3000' }),
    { host: 'shop.example.com', hostname: 'shop.example.com', port: null }, 'a forwarded host without a port: not the internal Host\'s port')
  t.same(await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'shop.example.com:8443', host: 'origin.internal:3000' }),
    { host: 'shop.example.com:8443', hostname: 'shop.example.com', port: 8443 })
  t.same(await send('203.0.113.7', { host: '[::1]' }), { host: '[::1]', hostname: '[::1]', port: null }, 'an IPv6 literal without a port')
  t.same(await send('203.0.113.7', { host: '[::1]:8080' }), { host: '[::1]:8080', hostname: '[::1]', port: 8080 })
  t.same(await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-port': '8443', 'x-forwarded-proto': 'https', host: 'shop.example.com' }),
    { host: 'shop.example.com', hostname: 'shop.example.com', port: null }, 'X-Forwarded-Port is not read, even from a trusted hop')
  t.same(await send('203.0.113.7', { 'x-forwarded-port': '8443', host: 'shop.example.com:8080' }),
    { host: 'shop.example.com:8080', hostname: 'shop.example.com', port: 8080 })
}

t.test('request.hostname and request.port come from request.host alone', async (t) => {
  await cases(t, await app(t))
})

t.test('the same under the request.port of Fastify 5.0 to 5.8 (port from the raw Host header when request.host has none)', async (t) => {
  // This app's request class gets Fastify 5.8.0's port getter (lib/request.js, in substance) between
  // it and Fastify's own Request, as if that Fastify were installed.
  const fastify = appFor(t)
  const key = Object.getOwnPropertySymbols(fastify).find((symbol) => symbol.description === 'fastify.Request') as symbol
  const requestClass = (fastify as unknown as Record<symbol, { prototype: object }>)[key] as { prototype: object }
  const olderFastify = Object.create(Object.getPrototypeOf(requestClass.prototype) as object, {
    port: {
      get (this: { host: string, headers: Record<string, string | undefined> }) {
        const portFromHost = parseInt(this.host.split(':').slice(-1)[0] as string)
        if (!isNaN(portFromHost)) return portFromHost
        const host = this.headers.host ?? this.headers[':authority'] ?? ''
        const portFromHeader = parseInt(host.split(':').slice(-1)[0] as string)
        return isNaN(portFromHeader) ? null : portFromHeader
      }
    }
  }) as object
  Object.setPrototypeOf(requestClass.prototype, olderFastify)
  await cases(t, await app(t, fastify))
})
