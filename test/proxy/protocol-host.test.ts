import t, { type Test } from 'tap'
import Fastify from 'fastify'
import proxy from '@scaleout/proxy'
import type { ProxyOptions } from '@scaleout/proxy'

interface Seen { ip: string, protocol: string, host: string, hostname: string, port: number | null }

async function app (t: Test, options: ProxyOptions): Promise<(remoteAddress: string, headers: Record<string, string | string[]>) => Promise<Seen>> {
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(proxy, options)
  fastify.get('/', async (request) => ({ ip: request.ip, protocol: request.protocol, host: request.host, hostname: request.hostname, port: request.port }))
  return async (remoteAddress, headers) => {
    const response = await fastify.inject({ url: '/', remoteAddress, headers: { host: 'origin.internal:3000', ...headers } })
    return response.json<Seen>()
  }
}

t.test('protocol and host come from the hop the client was taken from', async (t) => {
  const send = await app(t, { trust: ['10.0.0.0/8'] })
  t.same(await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example.com' }),
    { ip: '203.0.113.7', protocol: 'https', host: 'shop.example.com', hostname: 'shop.example.com', port: null })
  t.same(await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'HTTPS', 'x-forwarded-host': 'Shop.Example.com:8443' }),
    { ip: '203.0.113.7', protocol: 'https', host: 'Shop.Example.com:8443', hostname: 'Shop.Example.com', port: 8443 })
  t.same(await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': '[2001:db8::1]:8443' }),
    { ip: '203.0.113.7', protocol: 'http', host: '[2001:db8::1]:8443', hostname: '[2001:db8::1]', port: 8443 })

  // Every proxy appended: the lists line up from the right, and the client's own values (left) are never read.
  const appended = { 'x-forwarded-for': '203.0.113.7, 10.0.0.3, 10.0.0.2', 'x-forwarded-proto': 'http, https, http, http', 'x-forwarded-host': 'forged.example, shop.example.com, edge.internal, mid.internal' }
  t.same(await send('10.0.0.1', appended), { ip: '203.0.113.7', protocol: 'https', host: 'shop.example.com', hostname: 'shop.example.com', port: null })

  // Proxies that overwrite leave one value, set by the outermost one: it describes the client's request.
  t.same(await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7, 10.0.0.3, 10.0.0.2', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example.com' }),
    { ip: '203.0.113.7', protocol: 'https', host: 'shop.example.com', hostname: 'shop.example.com', port: null })

  // The walk stopped at a trusted hop (garbage beyond it): that hop's values.
  t.same(await send('10.0.0.1', { 'x-forwarded-for': 'garbage, 10.0.0.2', 'x-forwarded-proto': 'http, https', 'x-forwarded-host': 'a.example, b.example' }),
    { ip: '10.0.0.2', protocol: 'https', host: 'b.example', hostname: 'b.example', port: null })
})

t.test('no forwarded value, or a bad one, falls back to the socket and the Host header', async (t) => {
  const send = await app(t, { trust: ['10.0.0.0/8'] })
  t.same(await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7' }),
    { ip: '203.0.113.7', protocol: 'http', host: 'origin.internal:3000', hostname: 'origin.internal', port: 3000 })
  for (const proto of ['ftp', 'javascript', 'https:', 'wss', '']) {
    t.equal((await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': proto })).protocol, 'http', JSON.stringify(proto))
  }
  for (const host of ['evil.example/path', 'user@evil.example', 'evil.example:99999', 'evil.example:x', 'a b', '-bad.example', 'bad-.example', 'a..b', '[::1', '[zz::1]', '[::1]x', '[::1]:70000', ':80', 'x'.repeat(64) + '.example', `${'a.'.repeat(127)}aa`]) {
    t.equal((await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': host })).host, 'origin.internal:3000', JSON.stringify(host))
  }
  t.same(await send('10.0.0.1', { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example.com' }),
    { ip: '10.0.0.1', protocol: 'http', host: 'origin.internal:3000', hostname: 'origin.internal', port: 3000 },
    'proto and host without an address: the peer was chosen, so its own values')
})

t.test('allowedHosts limits the names a forwarded host may take', async (t) => {
  const send = await app(t, { trust: ['10.0.0.0/8'], allowedHosts: ['shop.example.com', '*.cdn.example', '[2001:db8::1]'] })
  const host = async (value: string): Promise<string> => (await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': value })).host
  t.equal(await host('shop.example.com'), 'shop.example.com')
  t.equal(await host('SHOP.example.com:443'), 'SHOP.example.com:443', 'names compare case-insensitively, ports are free')
  t.equal(await host('eu.cdn.example'), 'eu.cdn.example')
  t.equal(await host('a.b.cdn.example'), 'a.b.cdn.example')
  t.equal(await host('[2001:db8::1]:8443'), '[2001:db8::1]:8443')
  t.equal(await host('cdn.example'), 'origin.internal:3000', 'a wildcard does not cover its apex')
  t.equal(await host('evil.example'), 'origin.internal:3000')
  t.equal(await host('shop.example.com.evil.example'), 'origin.internal:3000')
})

t.test('without a Host header the host is empty, as in Fastify; HTTP/2 :authority counts', async (t) => {
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(proxy, { trust: ['10.0.0.0/8'] })
  // inject always sends Host; take it away the way HTTP/1.0 or HTTP/2 would leave it.
  fastify.addHook('onRequest', async (request) => {
    delete request.raw.headers.host
    const authority = request.raw.headers['x-test-authority']
    if (typeof authority === 'string') request.raw.headers[':authority'] = authority
  })
  fastify.get('/', async (request) => ({ host: request.host }))
  const noHost = await fastify.inject({ url: '/', remoteAddress: '10.0.0.1' })
  t.same(noHost.json(), { host: '' })
  const authority = await fastify.inject({ url: '/', remoteAddress: '10.0.0.1', headers: { 'x-test-authority': 'h2.example' } })
  t.same(authority.json(), { host: 'h2.example' })
})
