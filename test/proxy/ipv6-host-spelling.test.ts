import t, { type Test } from 'tap'
import proxy from '@scaleout/proxy'
import type { ProxyOptions } from '@scaleout/proxy'
import { appFor } from '../helpers/index.js'

// An IPv6 literal has many spellings ([2001:DB8:0:0::1], [2001:db8::1]); request.host kept the one
// the client wrote, so one host had several spellings in cache keys and links, and an allowedHosts
// entry matched only the spelling written in it ([2001:db8:0::1] was refused with [2001:db8::1]
// listed, and an entry written [2001:DB8::1] was refused at registration). Now both are in the
// form browsers send (the WHATWG URL serialisation, which is RFC 5952's compression in lower case).

interface Seen { host: string, hostname: string, port: number | null }

async function app (t: Test, options: ProxyOptions): Promise<(headers: Record<string, string>) => Promise<Seen>> {
  const fastify = appFor(t)
  await fastify.register(proxy, options)
  fastify.get('/', async (request) => ({ host: request.host, hostname: request.hostname, port: request.port }))
  return async (headers) => {
    const response = await fastify.inject({ url: '/', remoteAddress: '10.0.0.1', headers })
    t.equal(response.statusCode, 200)
    return response.json<Seen>()
  }
}

t.test('an IPv6 host has one spelling, the one browsers send', async (t) => {
  const send = await app(t, { trust: ['10.0.0.0/8'] })
  for (const [written, host] of [
    ['[2001:DB8:0:0::1]', '[2001:db8::1]'], ['[0:0:0:0:0:0:0:1]:8080', '[::1]:8080'], ['[::ffff:192.0.2.1]', '[::ffff:c000:201]'],
    ['[2001:db8:0:0:1:0:0:1]', '[2001:db8::1:0:0:1]'], ['[2001:0db8::0001]', '[2001:db8::1]']
  ] as const) {
    t.equal(new URL(`http://${written}/`).host, host, `${written}: what a browser sends`)
    const seen = await send({ 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': written, host: 'origin.internal' })
    t.same(seen, { host, hostname: host.slice(0, host.indexOf(']') + 1), port: host.endsWith(':8080') ? 8080 : null }, `X-Forwarded-Host: ${written}`)
    t.equal((await send({ host: written })).host, host, `Host: ${written}`)
  }
})

t.test('allowedHosts matches an IPv6 host however either is spelt', async (t) => {
  const send = await app(t, { trust: ['10.0.0.0/8'], allowedHosts: ['[2001:DB8:0::1]', '[::FFFF:192.0.2.1]'] })
  t.equal((await send({ host: '[2001:db8::1]' })).host, '[2001:db8::1]')
  t.equal((await send({ host: '[2001:db8:0:0:0:0:0:1]:443' })).host, '[2001:db8::1]:443')
  t.equal((await send({ host: '[::ffff:c000:201]' })).host, '[::ffff:c000:201]')
  t.equal((await send({ host: '[2001:db8::2]' })).host, '')
  await t.rejects(async () => {
    const fastify = appFor(t)
    await fastify.register(proxy, { trust: 'loopback', allowedHosts: ['[::1]:443'] })
    await fastify.ready()
  }, { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /got "\[::1\]:443"/ })
})
