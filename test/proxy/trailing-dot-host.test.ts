import t, { type Test } from 'tap'
import proxy from '@scaleout/proxy'
import type { ProxyOptions } from '@scaleout/proxy'
import { appFor } from '../helpers/index.js'

// A fully qualified name with its trailing dot ("shop.example.com.") names the same host as without
// it, and browsers send it as typed. It used to make request.host '' (Fastify alone keeps it), and an
// allowedHosts entry written with the dot was refused at registration.

interface Seen { host: string, hostname: string, port: number | null }

async function app (t: Test, options: ProxyOptions): Promise<(remoteAddress: string, headers: Record<string, string>) => Promise<Seen>> {
  const fastify = appFor(t)
  await fastify.register(proxy, options)
  fastify.get('/', async (request) => ({ host: request.host, hostname: request.hostname, port: request.port }))
  return async (remoteAddress, headers) => {
    const response = await fastify.inject({ url: '/', remoteAddress, headers })
    t.equal(response.statusCode, 200)
    return response.json<Seen>()
  }
}

const none = { host: '', hostname: '', port: null }

t.test('a Host with a trailing dot is the host without it (one host, one spelling)', async (t) => {
  const send = await app(t, { trust: ['10.0.0.0/8'] })
  t.same(await send('203.0.113.7', { host: 'Shop.Example.com.' }), { host: 'shop.example.com', hostname: 'shop.example.com', port: null })
  t.same(await send('203.0.113.7', { host: 'shop.example.com.:8443' }), { host: 'shop.example.com:8443', hostname: 'shop.example.com', port: 8443 })
  t.same(await send('203.0.113.7', { host: 'localhost.' }), { host: 'localhost', hostname: 'localhost', port: null })
  t.same(await send('203.0.113.7', { host: '192.0.2.1.' }), { host: '192.0.2.1', hostname: '192.0.2.1', port: null }, 'URL parsers read it as 192.0.2.1 too')
  t.same(await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'shop.example.com.', host: 'origin.internal' }),
    { host: 'shop.example.com', hostname: 'shop.example.com', port: null }, 'a forwarded host too')
  const forwarded = await app(t, { trust: ['10.0.0.0/8'], header: 'forwarded' })
  t.same(await forwarded('10.0.0.1', { forwarded: 'for=203.0.113.7;host=shop.example.com.', host: 'origin.internal' }),
    { host: 'shop.example.com', hostname: 'shop.example.com', port: null }, 'and Forwarded host=')
})

t.test('only one trailing dot, on a name that is valid without it', async (t) => {
  const send = await app(t, { trust: ['10.0.0.0/8'] })
  for (const host of ['.', '..', 'shop.example.com..', '.shop.example.com', 'shop..example.com.', '1.2.3.999.', '010.0.0.1.', 'a.123.', '[::1].', '[::1]:80.', 'shop.example.com:443.', `${'a.'.repeat(127)}aa.`]) {
    t.same(await send('203.0.113.7', { host }), none, `Host: ${host}`)
  }
})

t.test('allowedHosts cannot be bypassed by a trailing dot, either way', async (t) => {
  const send = await app(t, { trust: ['10.0.0.0/8'], allowedHosts: ['shop.example.com', '*.cdn.example'] })
  t.same(await send('203.0.113.7', { host: 'shop.example.com.' }), { host: 'shop.example.com', hostname: 'shop.example.com', port: null })
  t.same(await send('203.0.113.7', { host: 'eu.cdn.example.:443' }), { host: 'eu.cdn.example:443', hostname: 'eu.cdn.example', port: 443 })
  for (const host of ['evil.example.', 'cdn.example.', 'shop.example.com.evil.example.', 'evilcdn.example.']) {
    t.same(await send('203.0.113.7', { host }), none, `Host: ${host}`)
    t.same(await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': host, host: 'shop.example.com.' }),
      { host: 'shop.example.com', hostname: 'shop.example.com', port: null }, `X-Forwarded-Host: ${host} falls back to the allowed Host`)
  }

  // The list written with fully qualified names means the same hosts.
  const fqdn = await app(t, { trust: ['10.0.0.0/8'], allowedHosts: ['Shop.Example.com.', '*.cdn.example.'] })
  t.same(await fqdn('203.0.113.7', { host: 'shop.example.com' }), { host: 'shop.example.com', hostname: 'shop.example.com', port: null })
  t.same(await fqdn('203.0.113.7', { host: 'shop.example.com.' }), { host: 'shop.example.com', hostname: 'shop.example.com', port: null })
  t.same(await fqdn('203.0.113.7', { host: 'eu.cdn.example' }), { host: 'eu.cdn.example', hostname: 'eu.cdn.example', port: null })
  t.same(await fqdn('203.0.113.7', { host: 'cdn.example.' }), none)
  t.same(await fqdn('203.0.113.7', { host: 'evil.example' }), none)
})

t.test('allowedHosts refuses entries that are no host with or without the dot', async (t) => {
  for (const entry of ['.', 'example.com..', '*..', '*.example.com..', 'example.com.:443']) {
    await t.rejects(async () => {
      const fastify = appFor(t)
      await fastify.register(proxy, { trust: 'loopback', allowedHosts: [entry] })
      await fastify.ready()
    }, { code: 'SCALEOUT_ERR_INVALID_OPTION', message: `got ${JSON.stringify(entry)}` }, entry)
  }
})
