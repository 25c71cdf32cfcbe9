import t, { type Test } from 'tap'
import proxy from '@scaleout/proxy'
import type { ProxyOptions } from '@scaleout/proxy'
import { rawRequest } from './raw-http.js'
import { appFor } from '../helpers/index.js'

interface Seen { ip: string, protocol: string, host: string, hostname: string, port: number | null }

async function app (t: Test, options: ProxyOptions): Promise<(remoteAddress: string, headers: Record<string, string | string[]>) => Promise<Seen>> {
  const fastify = appFor(t)
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
    { ip: '203.0.113.7', protocol: 'https', host: 'shop.example.com:8443', hostname: 'shop.example.com', port: 8443 }, 'lower-cased: one host, one spelling')
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
  for (const host of ['evil.example/path', 'user@evil.example', 'evil.example:99999', 'evil.example:x', 'evil.example:0', 'evil.example:0443', 'a b', '-bad.example', 'bad-.example', 'a..b', '[::1', '[zz::1]', '[::1]x', '[::1]:70000', ':80', 'x'.repeat(64) + '.example', `${'a.'.repeat(127)}aa`]) {
    t.equal((await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': host })).host, 'origin.internal:3000', JSON.stringify(host))
  }
  t.same(await send('10.0.0.1', { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example.com' }),
    { ip: '10.0.0.1', protocol: 'http', host: 'origin.internal:3000', hostname: 'origin.internal', port: 3000 },
    'proto and host without an address: the peer was chosen, so its own values')
})

t.test('allowedHosts limits the names a forwarded host may take', async (t) => {
  const send = await app(t, { trust: ['10.0.0.0/8'], allowedHosts: ['shop.example.com', '*.cdn.example', '[2001:db8::1]', 'origin.internal'] })
  const host = async (value: string): Promise<string> => (await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': value })).host
  t.equal(await host('shop.example.com'), 'shop.example.com')
  t.equal(await host('SHOP.example.com:443'), 'shop.example.com:443', 'names compare case-insensitively (and come out lower-cased), ports are free')
  t.equal(await host('eu.cdn.example'), 'eu.cdn.example')
  t.equal(await host('a.b.cdn.example'), 'a.b.cdn.example')
  t.equal(await host('[2001:db8::1]:8443'), '[2001:db8::1]:8443')
  t.equal(await host('cdn.example'), 'origin.internal:3000', 'a wildcard does not cover its apex: the Host header, which is allowed')
  t.equal(await host('evil.example'), 'origin.internal:3000')
  t.equal(await host('shop.example.com.evil.example'), 'origin.internal:3000')
  t.equal(await host('evilcdn.example'), 'origin.internal:3000', 'a wildcard matches whole labels only')
  t.equal(await host('shop.example.com.'), 'shop.example.com', 'a trailing dot names the same host: taken, without the dot')
  t.equal(await host('shop.example.com:0'), 'origin.internal:3000')
  t.equal(await host('shop.example.com:65536'), 'origin.internal:3000')
})

// Before, a forwarded host outside the list fell back to the Host header unchecked, so request.host
// was whatever the client put in Host (and poisoned the route cache through any proxy).
t.test('request.host is never outside allowedHosts: the Host header is checked too, and a miss is empty', async (t) => {
  const send = await app(t, { trust: ['10.0.0.0/8'], allowedHosts: ['shop.example.com'] })
  const seen = async (remoteAddress: string, headers: Record<string, string>): Promise<Seen> => await send(remoteAddress, headers)
  t.same(await seen('10.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'evil.example' }),
    { ip: '203.0.113.7', protocol: 'http', host: '', hostname: '', port: null }, 'forwarded host and Host both outside the list')
  t.same(await seen('203.0.113.7', { host: 'evil.example' }),
    { ip: '203.0.113.7', protocol: 'http', host: '', hostname: '', port: null }, 'a direct client with its own Host')
  t.equal((await seen('203.0.113.7', { 'x-forwarded-host': 'shop.example.com', host: 'evil.example' })).host, '', 'an untrusted peer\'s forwarded host is not read')
  t.equal((await seen('203.0.113.7', { host: 'shop.example.com:8443' })).host, 'shop.example.com:8443')
  t.equal((await seen('10.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'evil.example', host: 'shop.example.com' })).host, 'shop.example.com',
    'a forwarded host outside the list falls back to an allowed Host')
})

t.test('a Host header that is not a plain host[:port] is never request.host', async (t) => {
  const send = await app(t, { trust: ['10.0.0.0/8'] })
  for (const value of ['a",for="198.51.100.23', 'evil.example/path', 'user@evil.example', 'a b', 'evil.example:99999', '[::1']) {
    t.equal((await send('203.0.113.7', { host: value })).host, '', JSON.stringify(value))
    t.equal((await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': value, host: value })).host, '', `${JSON.stringify(value)} forwarded too`)
  }
})

t.test('without a Host header the host is empty, as in Fastify; HTTP/2 :authority counts', async (t) => {
  const fastify = appFor(t)
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

t.test('repeated Host lines: Node keeps the first, so no host is taken (RFC 9112 §3.2 calls the request invalid)', async (t) => {
  const fastify = appFor(t)
  await fastify.register(proxy, { trust: ['loopback'] })
  fastify.get('/', async (request) => ({ host: request.host }))
  await fastify.listen({ host: '127.0.0.1', port: 0 })
  const port = (fastify.server.address() as { port: number }).port
  const twice = await rawRequest({ host: '127.0.0.1', port, localAddress: '127.0.0.1', path: '/', headers: [['Host', 'evil.example']] })
  t.same([twice.status, JSON.parse(twice.body)], [200, { host: '' }])
  const once = await rawRequest({ host: '127.0.0.1', port, localAddress: '127.0.0.1', path: '/', headers: [] })
  t.same([once.status, JSON.parse(once.body)], [200, { host: 'differential.test' }])
})

// 'Host: 1.2.3.999' used to become request.host, and `new URL('http://1.2.3.999/')` throws; '010.0.0.1'
// and '2130706433' were kept as written though URL parsers read them as 8.0.0.1 and 127.0.0.1.
t.test('a host whose last label is a number that is not a plain dotted IPv4 is refused (URL parsers throw on it or read another address)', async (t) => {
  const send = await app(t, { trust: ['10.0.0.0/8'] })
  const none = { ip: '10.0.0.1', protocol: 'http', host: '', hostname: '', port: null }
  for (const host of ['1.2.3.999', 'a.123', 'shop.example.0x', '999', '2130706433', '0x7f.1', '127.1', '010.0.0.1', '1.2.3.4.5']) {
    t.same(await send('10.0.0.1', { host }), none, `Host: ${host}`)
    t.same(await send('10.0.0.1', { 'x-forwarded-for': '10.0.0.2', 'x-forwarded-host': host, host: 'shop.example.com' }),
      { ip: '10.0.0.2', protocol: 'http', host: 'shop.example.com', hostname: 'shop.example.com', port: null }, `X-Forwarded-Host: ${host}`)
  }
  for (const host of ['1.2.3.4', '192.0.2.1:8080', 'a1.example', 'shop.example.1b', '0x7f.example']) {
    const seen = await send('10.0.0.1', { host })
    t.equal(seen.host, host, `Host: ${host} is kept`)
    t.doesNotThrow(() => new URL(`http://${host}/`))
  }
})
