import t from 'tap'
import { formatIpv6, parseAddress, parseHop, parseIpv4, parseIpv6, parseSocketAddress } from '@scaleout/core'

const text = (s: string): string | null => parseHop(s)?.text ?? null

t.test('IPv4: strict dotted decimal only', async (t) => {
  t.equal(parseIpv4('0.0.0.0', 0, 7), 0)
  t.equal(parseIpv4('255.255.255.255', 0, 15), 0xffffffff)
  t.equal(parseIpv4('x10.1.2.3', 1, 9), (10 * 2 ** 24) + (1 << 16) + (2 << 8) + 3)
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.00', '1..2.3', '.1.2.3', '1.2.3.', '1.2.3.4 ', '0x7f.0.0.1', '127.1', '2130706433', '1.2.3.-4', '1.2.3.1000']) {
    t.equal(parseIpv4(bad, 0, bad.length), -1, JSON.stringify(bad))
  }
})

t.test('IPv6: RFC 4291 text forms', async (t) => {
  t.same(parseIpv6('::', 0, 2), [0, 0, 0, 0, 0, 0, 0, 0])
  t.same(parseIpv6('::1', 0, 3), [0, 0, 0, 0, 0, 0, 0, 1])
  t.same(parseIpv6('1::', 0, 3), [1, 0, 0, 0, 0, 0, 0, 0])
  t.same(parseIpv6('2001:DB8::a:0001', 0, 16), [0x2001, 0xdb8, 0, 0, 0, 0, 0xa, 1])
  t.same(parseIpv6('1:2:3:4:5:6:7:8', 0, 15), [1, 2, 3, 4, 5, 6, 7, 8])
  t.same(parseIpv6('1:2:3:4:5:6:1.2.3.4', 0, 19), [1, 2, 3, 4, 5, 6, 0x102, 0x304])
  t.same(parseIpv6('::ffff:10.0.0.1', 0, 15), [0, 0, 0, 0, 0, 0xffff, 0x0a00, 1])
  for (const bad of [':', ':1::2', ':::', '1:::2', '1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', '12345::1', '::g', '1:', '1:2:',
    'fe80::1%eth0', '1:2:3:4:5:6:7:1.2.3.4', '::1.2.3', '::01.2.3.4', '1.2.3.4', '1:2:3:4:5:6:7:8::', 'a:b:c:d:e:f:1:2:3']) {
    t.equal(parseIpv6(bad, 0, bad.length), null, JSON.stringify(bad))
  }
})

t.test('IPv6 output is RFC 5952', async (t) => {
  t.equal(formatIpv6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]), '2001:db8::1:0:0:1', 'the first of two equal runs')
  t.equal(formatIpv6([0x2001, 0xdb8, 0, 1, 0, 0, 0, 1]), '2001:db8:0:1::1', 'the longest run')
  t.equal(formatIpv6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]), '2001:db8:0:1:1:1:1:1', 'one zero group is not compressed')
  t.equal(formatIpv6([0, 0, 0, 0, 0, 0, 0, 0]), '::')
  t.equal(formatIpv6([1, 0, 0, 0, 0, 0, 0, 0]), '1::')
  t.equal(formatIpv6([0xabcd, 0, 0, 0, 0, 0, 0, 0xef]), 'abcd::ef')
})

t.test('hops: ports stripped, brackets, mapped forms normalised, garbage rejected', async (t) => {
  t.equal(text('203.0.113.7'), '203.0.113.7')
  t.equal(text('203.0.113.7:5678'), '203.0.113.7')
  t.equal(text('203.0.113.7:65535'), '203.0.113.7')
  t.equal(text('203.0.113.7:080'), '203.0.113.7', 'a port with leading zeros is still a port')
  t.equal(text('2001:db8::1'), '2001:db8::1')
  t.equal(text('[2001:db8::1]'), '2001:db8::1')
  t.equal(text('[2001:DB8:0::1]:443'), '2001:db8::1')
  t.equal(text('2001:db8::1:443'), '2001:db8::1:443', 'an unbracketed IPv6 address has no port: the last group is part of it')
  t.equal(text('::ffff:10.1.2.3'), '10.1.2.3')
  t.equal(text('::FFFF:0a01:0203'), '10.1.2.3')
  t.equal(text('[::ffff:10.1.2.3]:80'), '10.1.2.3')
  t.equal(text('::1.2.3.4'), '::102:304', 'IPv4-compatible (deprecated) is not IPv4-mapped')
  t.equal(parseHop('10.1.2.3')?.v4, 0x0a010203)
  t.equal(parseHop('::ffff:10.1.2.3')?.v4, 0x0a010203)
  t.equal(parseHop('::1')?.v4, -1)
  for (const bad of ['', 'unknown', '_hidden', '1.2.3.4:0', '1.2.3.4:65536', '1.2.3.4:', '1.2.3.4:80a', '1.2.3.4:123456', 'a.b.c.d:80', ':80',
    '[::1', '[::1]:', '[::1]80', '[::1]:0', '[1.2.3.4]:80', '[fe80::1%eth0]:80', 'fe80::1%eth0', '1.2.3.4 ', ' 1.2.3.4', '"1.2.3.4"']) {
    t.equal(parseHop(bad), null, JSON.stringify(bad))
  }
})

t.test('bare addresses and socket addresses', async (t) => {
  t.equal(parseAddress('x1.2.3.4', 1)?.text, '1.2.3.4')
  t.equal(parseAddress('1.2.3.4')?.text, '1.2.3.4')
  t.equal(parseAddress('1.2.3.4:80'), null)
  t.equal(parseSocketAddress('::ffff:127.0.0.5')?.text, '127.0.0.5')
  t.equal(parseSocketAddress('fe80::1%eth0')?.text, 'fe80::1', 'the zone names an interface, not a host')
  t.equal(parseSocketAddress('::1')?.text, '::1')
  t.equal(parseSocketAddress('bogus'), null)
  t.equal(parseSocketAddress(undefined), null, 'no peer address (a Unix socket, a connection already reset) is no address')
})
