import t, { type Test } from 'tap'
import proxy from '@scaleout/proxy'
import type { ForwardedInfo, ProxyOptions } from '@scaleout/proxy'
import { alignedEntry, headerValue, parseElement, splitFromRight } from '../../plugins/proxy/src/headers.js'
import { appFor } from '../helpers/index.js'

interface Seen { ip: string, ips: string[], protocol: string, host: string, forwarded: ForwardedInfo }

async function app (t: Test, options: ProxyOptions): Promise<(remoteAddress: string, headers: Record<string, string | string[]>) => Promise<Seen>> {
  const fastify = appFor(t)
  await fastify.register(proxy, options)
  fastify.get('/', async (request) => ({ ip: request.ip, ips: request.ips, protocol: request.protocol, host: request.host, forwarded: request.forwarded }))
  return async (remoteAddress, headers) => (await fastify.inject({ url: '/', remoteAddress, headers: { host: 'origin.internal', ...headers } })).json<Seen>()
}

t.test('splitting from the right: quoted commas, escapes, and a client that never closes its quote', async (t) => {
  t.same(splitFromRight('a, b,,c ,\t', false), ['c', 'b', 'a'])
  t.same(splitFromRight('for="a,b", for=c', true), ['for=c', 'for="a,b"'])
  t.same(splitFromRight('for="a\\",b", for=c', true), ['for=c', 'for="a\\",b"'])
  t.same(splitFromRight('for="a\\\\", for=c', true), ['for=c', 'for="a\\\\"'])
  t.same(splitFromRight('for=", x, for=1.2.3.4', true), ['for=1.2.3.4', 'x', 'for="'], 'the unclosed quote stays on the left')
  t.same(splitFromRight('for="x, y" , for=1.2.3.4', false), ['for=1.2.3.4', 'y"', 'for="x'], 'without quote handling, commas always split')
})

t.test('header values: repeated lines as arrays are one list; aligned entries', async (t) => {
  t.equal(headerValue(['a', 'b']), 'a, b')
  t.equal(headerValue('a'), 'a')
  t.equal(headerValue(undefined), undefined)
  t.equal(alignedEntry(['https', 'http'], 1), 'http')
  t.equal(alignedEntry('https, http', 2), 'https')
  t.equal(alignedEntry('https', 3), 'https', 'shorter than the walk: the leftmost')
  t.equal(alignedEntry(' , ', 1), undefined)
  t.equal(alignedEntry(undefined, 1), undefined)
})

t.test('RFC 7239 elements', async (t) => {
  t.same(parseElement('for=192.0.2.60;proto=http;by=203.0.113.43'), { for: '192.0.2.60', proto: 'http', host: undefined })
  t.same(parseElement('For="[2001:db8:cafe::17]:4711"; PROTO=https ; host="a.example"'), { for: '[2001:db8:cafe::17]:4711', proto: 'https', host: 'a.example' })
  t.same(parseElement('for="a\\"b;c"'), { for: 'a"b;c', proto: undefined, host: undefined })
  t.same(parseElement(';;for=1.2.3.4;'), { for: '1.2.3.4', proto: undefined, host: undefined }, 'empty pairs are allowed')
  t.same(parseElement('proto=https'), { for: undefined, proto: 'https', host: undefined })
  for (const bad of ['for=1.2.3.4;for=5.6.7.8', 'for', '=1.2.3.4', 'f r=1', 'for="1.2.3.4', 'for="1.2.3.4\\"', 'for="a"b"', 'for=a"b', 'for=a\\b', 'for="x\\']) {
    t.equal(parseElement(bad), null, JSON.stringify(bad))
  }
})

t.test('header: forwarded walks RFC 7239 elements; proto and host come from the chosen element', async (t) => {
  const send = await app(t, { trust: ['10.0.0.0/8', 'fd00::/8'], header: 'forwarded' })
  const seen = await send('10.0.0.1', {
    forwarded: 'for=198.51.100.1;proto=http;host=forged.example, for="[2001:db8:cafe::17]:4711";proto=https;host=shop.example.com, for=10.0.0.2;proto=http;host=edge.internal',
    'x-forwarded-for': '203.0.113.99',
    'x-forwarded-proto': 'http',
    'x-forwarded-host': 'other.example'
  })
  t.equal(seen.ip, '2001:db8:cafe::17')
  t.same(seen.ips, ['10.0.0.1', '10.0.0.2', '2001:db8:cafe::17'])
  t.equal(seen.protocol, 'https', 'from the chosen element, never X-Forwarded-Proto')
  t.equal(seen.host, 'shop.example.com')
  t.same(seen.forwarded, {
    source: 'forwarded',
    chain: [
      { address: '10.0.0.1', raw: '10.0.0.1', trusted: true },
      { address: '10.0.0.2', raw: 'for=10.0.0.2;proto=http;host=edge.internal', trusted: true },
      { address: '2001:db8:cafe::17', raw: 'for="[2001:db8:cafe::17]:4711";proto=https;host=shop.example.com', trusted: false },
      { address: '198.51.100.1', raw: 'for=198.51.100.1;proto=http;host=forged.example', trusted: false }
    ],
    chosen: 2,
    stop: 'untrusted'
  })

  const only = await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.99' })
  t.equal(only.ip, '10.0.0.1', 'X-Forwarded-For is not read when the header is forwarded: never two sources')

  const obfuscated = await send('10.0.0.1', { forwarded: 'for="[2001:db8::5]:_p1"' })
  t.equal(obfuscated.ip, '2001:db8::5', 'an obfuscated port is dropped')
  const unknown = await send('10.0.0.1', { forwarded: 'for=198.51.100.1, for=unknown, for=10.0.0.2' })
  t.equal(unknown.ip, '10.0.0.2', 'unknown ends the walk at the last valid hop')
  t.equal(unknown.forwarded.stop, 'invalid')
  t.equal((await send('10.0.0.1', { forwarded: 'for=198.51.100.1, for=_gazonk, for=10.0.0.2' })).ip, '10.0.0.2', 'an obfuscated node too')
  t.equal((await send('10.0.0.1', { forwarded: 'for=198.51.100.1, proto=https, for=10.0.0.2' })).ip, '10.0.0.2', 'an element without for')
  const repeated = await send('10.0.0.1', { forwarded: 'for=198.51.100.1, for=1.1.1.1;for=2.2.2.2, for=10.0.0.2' })
  t.same([repeated.ip, repeated.ips, repeated.forwarded.stop, repeated.forwarded.chosen], ['10.0.0.1', ['10.0.0.1'], 'refused', 0], 'a repeated parameter refuses the whole header')
  t.equal((await send('10.0.0.1', { forwarded: 'for="[2001:db8::', forwarded2: 'x' })).ip, '10.0.0.1')
  t.equal((await send('10.0.0.1', { forwarded: 'for="\\"garbage, for=198.51.100.77' })).ip, '198.51.100.77', 'an unclosed quote on the client side changes nothing')
  t.equal((await send('10.0.0.1', { forwarded: ['for=198.51.100.1', 'for=10.0.0.2'] })).ip, '198.51.100.1', 'repeated lines are one list')
  const noProto = await send('10.0.0.1', { forwarded: 'for=198.51.100.1' })
  t.same([noProto.ip, noProto.protocol, noProto.host], ['198.51.100.1', 'http', 'origin.internal'], 'no proto or host: the socket and Host')
})

// What nginx's old README line (`host="$host"`, pasted unescaped) turned a client's Host header into.
t.test('header: forwarded refuses the whole header when a walked element shows injection', async (t) => {
  const send = await app(t, { trust: ['loopback', '10.0.0.0/8'], header: 'forwarded' })
  const refused = async (forwarded: string, why: string): Promise<void> => {
    const seen = await send('127.0.0.1', { forwarded })
    t.same([seen.ip, seen.ips, seen.protocol, seen.host, seen.forwarded.stop, seen.forwarded.chosen],
      ['127.0.0.1', ['127.0.0.1'], 'http', 'origin.internal', 'refused', 0], why)
  }
  await refused('for="203.0.113.9";proto=http;host="a";proto=https;host="evil.example"', 'a repeated proto and host (Host: a";proto=https;host="evil.example)')
  await refused('for="203.0.113.9";proto=http;host="a",garbage,for="127.0.0.1"', 'a bare word between elements (Host: a",garbage,for="127.0.0.1)')
  await refused('for=198.51.100.1;proto=gopher', 'a protocol other than http or https')
  await refused('for=198.51.100.1;proto="https\\""', 'a quote left in the protocol')
  await refused('for=198.51.100.1;host="evil.example/x"', 'a host that is not a plain host[:port]')
  await refused('for=198.51.100.1;host="a\\",for=\\"1.2.3.4"', 'quote, comma and equals remnants in a quoted host')
  await refused('for=198.51.100.1;host=""', 'an empty host')
  await refused('for="198.51.100.1 garbage"', 'a node that is not an IP, unknown or an obfuscated identifier')
  await refused('for=198.51.100.1;proto=https, for=10.0.0.2;proto=ftp', 'damage in a trusted hop right of the client')
  await refused('for="_hidden";proto=https;proto=http', 'the damage is found even where the node stops the walk')

  // Remnants left of the client (its own text, never walked) change nothing.
  const left = await send('127.0.0.1', { forwarded: 'for=1.1.1.1;proto=gopher;proto=x, for="203.0.113.9";proto=https;host="shop.example.com:8443"' })
  t.same([left.ip, left.protocol, left.host, left.forwarded.stop], ['203.0.113.9', 'https', 'shop.example.com:8443', 'untrusted'])
  // RFC 7239's own forms stay valid: unknown and obfuscated nodes with ports, IPv6 in brackets, case-insensitive names.
  t.equal((await send('127.0.0.1', { forwarded: 'for=198.51.100.1, for="unknown:_p1";proto=HTTPS' })).forwarded.stop, 'invalid')
  t.equal((await send('127.0.0.1', { forwarded: 'for=198.51.100.1, for="_a.b-c:8080"' })).forwarded.stop, 'invalid')
  t.same([(await send('127.0.0.1', { forwarded: 'for=198.51.100.1, proto=https' })).forwarded.stop], ['invalid'], 'an element without for= ends the walk')
  t.same([(await send('127.0.0.1', { forwarded: 'for=198.51.100.1, for=garbage' })).forwarded.stop], ['refused'], 'a for= that is no node refuses the header')
  t.equal((await send('127.0.0.1', { forwarded: 'FOR="[2001:db8::1]:443";Proto=Https;Host="[2001:db8::2]:8443"' })).host, '[2001:db8::2]:8443')
})

for (const header of ['x-real-ip', 'cf-connecting-ip', 'true-client-ip'] as const) {
  t.test(`header: ${header} names one address`, async (t) => {
    const send = await app(t, { trust: ['10.0.0.0/8'], header })
    const seen = await send('10.0.0.1', { [header]: '203.0.113.7', 'x-forwarded-for': '198.51.100.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example.com' })
    t.same([seen.ip, seen.ips, seen.protocol, seen.host], ['203.0.113.7', ['10.0.0.1', '203.0.113.7'], 'https', 'origin.internal'], 'the host is the Host header\'s')
    t.equal((await send('10.0.0.1', { [header]: '[2001:db8::7]:443' })).ip, '2001:db8::7')
    t.equal((await send('10.0.0.1', { 'x-forwarded-for': '203.0.113.7' })).ip, '10.0.0.1', 'X-Forwarded-For is not read')
    t.equal((await send('198.51.100.9', { [header]: '203.0.113.7' })).ip, '198.51.100.9', 'an untrusted peer cannot set it')
    const repeated = await send('10.0.0.1', { [header]: ['198.51.100.66', '203.0.113.7'] })
    t.equal(repeated.ip, '203.0.113.7', 'repeated: the last occurrence, as HAProxy reads it')
    t.equal(repeated.forwarded.chain.length, 2, 'and nothing left of it')
    t.equal((await send('10.0.0.1', { [header]: '198.51.100.66, 10.0.0.9' })).ip, '10.0.0.9', 'a trusted value does not open a walk further left')
    t.equal((await send('10.0.0.1', { [header]: 'unknown' })).ip, '10.0.0.1')
    // An empty last occurrence is no address: the one before it is never read.
    for (const value of [['6.6.6.6', ''], '6.6.6.6,', '6.6.6.6, ']) {
      const empty = await send('10.0.0.1', { [header]: value })
      t.same([empty.ip, empty.forwarded.stop], ['10.0.0.1', 'invalid'], JSON.stringify(value))
    }
    t.same([(await send('10.0.0.1', { [header]: '' })).forwarded.stop], ['end'], 'one empty line is no header')
  })
}

// Before, the one-address modes took request.host from X-Forwarded-Host, which Cloudflare passes
// on from the visitor untouched: a visitor chose the host of password-reset links and cache keys.
const CLOUDFLARE = ['173.245.48.0/20', '103.21.244.0/22', '2400:cb00::/32']
for (const header of ['cf-connecting-ip', 'true-client-ip', 'x-real-ip'] as const) {
  t.test(`header: ${header} behind a CDN: a visitor's X-Forwarded-Host is not request.host`, async (t) => {
    const cdn = { [header]: '203.0.113.7', 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' }
    const send = await app(t, { trust: CLOUDFLARE, header })
    t.same(pick(await send('173.245.48.17', { ...cdn, host: 'shop.example.com' })), ['203.0.113.7', 'https', 'shop.example.com'])
    t.same(pick(await send('2400:cb00::17', { ...cdn, host: 'Shop.Example.com:8443' })), ['203.0.113.7', 'https', 'shop.example.com:8443'])
    t.same(pick(await send('173.245.48.17', { ...cdn, 'x-forwarded-host': 'shop.example.com', host: 'a"b' })), ['203.0.113.7', 'https', ''], 'a malformed Host is no host, whatever X-Forwarded-Host says')
    const listed = await app(t, { trust: CLOUDFLARE, header, allowedHosts: ['shop.example.com'] })
    t.same(pick(await listed('173.245.48.17', { ...cdn, 'x-forwarded-host': 'shop.example.com', host: 'evil.example' })), ['203.0.113.7', 'https', ''], 'nor one outside allowedHosts')
  })
}

function pick (seen: Seen): [string, string, string] {
  return [seen.ip, seen.protocol, seen.host]
}

t.test('request.forwarded describes the walk', async (t) => {
  const send = await app(t, { trust: ['10.0.0.0/8'], maxHops: 2 })
  t.same((await send('198.51.100.9', { 'x-forwarded-for': '203.0.113.7' })).forwarded, {
    source: 'socket', chain: [{ address: '198.51.100.9', raw: '198.51.100.9', trusted: false }], chosen: 0, stop: 'untrusted-peer'
  })
  t.same((await send('::ffff:10.0.0.1', {})).forwarded, {
    source: 'socket', chain: [{ address: '10.0.0.1', raw: '::ffff:10.0.0.1', trusted: true }], chosen: 0, stop: 'end'
  })
  t.same((await send('10.0.0.1', { 'x-forwarded-for': '198.51.100.1, 10.0.0.3, 10.0.0.2:80' })).forwarded, {
    source: 'x-forwarded-for',
    chain: [
      { address: '10.0.0.1', raw: '10.0.0.1', trusted: true },
      { address: '10.0.0.2', raw: '10.0.0.2:80', trusted: true },
      { address: '10.0.0.3', raw: '10.0.0.3', trusted: true },
      { address: '198.51.100.1', raw: '198.51.100.1', trusted: false }
    ],
    chosen: 2,
    stop: 'max-hops'
  })
  t.same((await send('10.0.0.1', { 'x-forwarded-for': 'junk, 10.0.0.2' })).forwarded, {
    source: 'x-forwarded-for',
    chain: [
      { address: '10.0.0.1', raw: '10.0.0.1', trusted: true },
      { address: '10.0.0.2', raw: '10.0.0.2', trusted: true },
      { address: null, raw: 'junk', trusted: false }
    ],
    chosen: 1,
    stop: 'invalid'
  })
})
