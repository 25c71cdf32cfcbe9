import t from 'tap'
import { ADDRESS_PRESETS, compileAddressList, parseAddress, type AddressList } from '@scaleout/core'

function list (entries: string[]): AddressList {
  const compiled = compileAddressList(entries)
  if (typeof compiled !== 'function') throw new Error(`refused ${compiled.invalid}`)
  return compiled
}

function has (matcher: AddressList, text: string): boolean {
  const ip = parseAddress(text)
  if (ip === null) throw new Error(`not an address: ${text}`)
  return matcher(ip)
}

t.test('IPs and CIDRs of both families; IPv4-mapped addresses and ranges match as IPv4', async (t) => {
  const m = list(['192.0.2.10', '10.0.0.0/8', '2001:db8::/32', '::ffff:198.51.100.0/120', ' FE80::1 '])
  for (const yes of ['192.0.2.10', '::ffff:192.0.2.10', '10.255.0.1', '2001:db8:1::1', '198.51.100.200', '::ffff:198.51.100.1', 'fe80::1']) t.ok(has(m, yes), yes)
  for (const no of ['192.0.2.11', '11.0.0.1', '2001:db9::1', '198.51.101.1', 'fe80::2', '::1']) t.notOk(has(m, no), no)
})

t.test('presets: loopback, private, linklocal, uniquelocal, in any case', async (t) => {
  t.same(Object.keys(ADDRESS_PRESETS).sort(), ['linklocal', 'loopback', 'private', 'uniquelocal'])
  const loopback = list(['LoopBack'])
  t.ok(has(loopback, '127.8.0.1'))
  t.ok(has(loopback, '::1'))
  t.ok(has(loopback, '::ffff:127.0.0.1'))
  t.notOk(has(loopback, '10.0.0.1'))
  const priv = list(['private'])
  for (const yes of ['10.0.0.1', '172.31.255.255', '192.168.0.1', 'fc00::1', 'fdff::1']) t.ok(has(priv, yes), yes)
  for (const no of ['172.32.0.1', '127.0.0.1', 'fe80::1', '8.8.8.8']) t.notOk(has(priv, no), no)
  const linklocal = list(['linklocal'])
  t.ok(has(linklocal, '169.254.1.1'))
  t.ok(has(linklocal, 'fe80::abcd'))
  t.notOk(has(linklocal, '10.0.0.1'))
  t.same(ADDRESS_PRESETS.uniquelocal, ADDRESS_PRESETS.private)
})

// Before, `::/1`, `::/64`, `::/80` or `::fffe:0:0/95` compiled to a 0.0.0.0/0 IPv4 entry (IPv4 peers
// are matched as IPv4, mapped or not), so such a list silently held every IPv4 address.
t.test('a v6 range holding the whole IPv4-mapped block is refused: it would hold every IPv4 address', async (t) => {
  for (const bad of ['::/1', '::/48', '::/64', '::/80', '::fffe:0:0/95', '0:0:0:0:0:ffff::/96']) {
    t.same(compileAddressList(['127.0.0.1', bad]), { invalid: bad }, bad)
  }
  // Narrower ranges still compile: a mapped one as IPv4, a v6 one beside the mapped block as v6.
  const half = list(['::ffff:0.0.0.0/97'])
  t.ok(has(half, '8.8.8.8'))
  t.notOk(has(half, '200.0.0.1'))
  const low = list(['::/97'])
  t.ok(has(low, '::2'))
  t.notOk(has(low, '8.8.8.8'))
  t.notOk(has(low, '::ffff:8.8.8.8'))
})

t.test('anything else is handed back, whole family ranges included', async (t) => {
  for (const bad of ['localhost', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/8/1', '10.0.0.0/x', '0.0.0.0/0', '::/0', '::ffff:10.0.0.0/95', '010.0.0.1', '127.1', 'everyone', '']) {
    t.same(compileAddressList(['127.0.0.1', bad]), { invalid: bad }, JSON.stringify(bad))
  }
})

t.test('an empty list holds nothing', async (t) => {
  t.notOk(has(list([]), '127.0.0.1'))
  t.notOk(has(list([]), '::1'))
})
