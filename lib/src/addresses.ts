import { parseAddress, type Ip } from './ip.js'

/**
 * The one address-list syntax of the suite (proxy's `trust`, health's `detailsAllowList`): IPs,
 * CIDRs of both families, IPv4-mapped forms (`::ffff:10.0.0.0/104` is 10.0.0.0/8), and named
 * ranges as Express and proxy-addr name them; `private` is RFC 1918 plus RFC 4193.
 */
export const ADDRESS_PRESETS: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']
}

/** The syntax in words, for the error of an option that takes an address list. */
export const ADDRESS_LIST_SYNTAX = 'IPs, CIDRs (v4 or v6) and presets "loopback", "private", "linklocal", "uniquelocal"'

/** Whether an address is in the list. */
export interface AddressList {
  (ip: Ip): boolean
}

interface Range { net: number[], mask: number[] }

const MAPPED_BLOCK = [0, 0, 0, 0, 0, 0xffff, 0, 0]

// Prefixes are 1 to 32 here: a zero-length one is refused before.
function v4Mask (prefix: number): number {
  return (0xffffffff << (32 - prefix)) >>> 0
}

function v6Mask (prefix: number): number[] {
  const mask: number[] = []
  for (let i = 0; i < 8; i++) {
    const bits = Math.max(0, Math.min(16, prefix - i * 16))
    mask.push(bits === 0 ? 0 : (0xffff << (16 - bits)) & 0xffff)
  }
  return mask
}

function parsePrefix (text: string, max: number): number {
  if (!/^\d{1,3}$/.test(text)) return -1
  const prefix = Number(text)
  return prefix <= max ? prefix : -1
}

/** Adds one IP or CIDR to the v4 or v6 list; IPv4-mapped v6 ranges land in the v4 list. */
function addRange (entry: string, v4: Range, v6: Range[]): boolean {
  const slash = entry.indexOf('/')
  const ip = parseAddress(entry, 0, slash < 0 ? entry.length : slash)
  if (ip === null) return false
  const mappedText = slash >= 0 && ip.v4 >= 0 && entry.includes(':')
  const max = ip.v4 >= 0 && !mappedText ? 32 : 128
  let prefix = slash < 0 ? max : parsePrefix(entry.slice(slash + 1), max)
  if (prefix < 0) return false
  if (mappedText) {
    // `::ffff:10.0.0.0/104` is 10.0.0.0/8; a shorter prefix would reach outside the mapped block.
    if (prefix < 96) return false
    prefix -= 96
  }
  // A zero-length prefix takes in a whole family: an option that allows that says so by name.
  if (prefix === 0) return false
  if (ip.v4 >= 0) {
    const mask = v4Mask(prefix)
    v4.net.push((ip.v4 & mask) >>> 0)
    v4.mask.push(mask)
  } else {
    const mask = v6Mask(prefix)
    const range = { net: ip.groups.map((g, i) => g & (mask[i] as number)), mask }
    // IPv4 peers arrive as IPv4-mapped IPv6 too (::ffff:a.b.c.d) and are matched as IPv4, so a v6
    // range holding the whole mapped block (`::/64`, `::/80`, `::fffe:0:0/95`) would hold every
    // IPv4 address: refused like 0.0.0.0/0. Narrower mapped ranges (`::ffff:10.0.0.0/104`) go above.
    if (MAPPED_BLOCK.every((g, i) => (g & (mask[i] as number)) === range.net[i])) return false
    v6.push(range)
  }
  return true
}

function inRange (g: readonly number[], range: Range): boolean {
  for (let i = 0; i < 8; i++) {
    if (((g[i] as number) & (range.mask[i] as number)) !== range.net[i]) return false
  }
  return true
}

/**
 * Compiles entries (each an IP, a CIDR or a preset name; trimmed, any case) into one matcher over
 * both families. Returns the first entry that is none of these instead, for the caller's error.
 */
export function compileAddressList (entries: readonly string[]): AddressList | { invalid: string } {
  const v4: Range = { net: [], mask: [] }
  const v6: Range[] = []
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase()
    const ranges = Object.hasOwn(ADDRESS_PRESETS, entry) ? ADDRESS_PRESETS[entry] as readonly string[] : [entry]
    for (const range of ranges) {
      if (!addRange(range, v4, v6)) return { invalid: raw }
    }
  }
  const { net, mask } = v4
  const count4 = net.length
  return (ip) => {
    if (ip.v4 >= 0) {
      for (let i = 0; i < count4; i++) {
        if (((ip.v4 & (mask[i] as number)) >>> 0) === net[i]) return true
      }
      return false
    }
    for (const range of v6) {
      if (inRange(ip.groups, range)) return true
    }
    return false
  }
}
