import { invalid } from '@scaleout/core'
import { parseAddress, type Ip } from './ip.js'
import { PLUGIN } from './errors.js'

/** Named ranges, as Express and proxy-addr name them; `private` is RFC 1918 plus RFC 4193. */
export const PRESETS: Readonly<Record<string, readonly string[]>> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']
}

export type TrustFn = (ip: Ip) => boolean

export interface CompiledTrust {
  readonly trust: TrustFn
  /** True when the option was the explicit `"all"`. */
  readonly all: boolean
}

const EXPECTED = '"all", or a non-empty list (array or comma-separated string) of IPs, CIDRs (v4 or v6) and presets "loopback", "private", "linklocal", "uniquelocal"'

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
  // A zero-length prefix trusts a whole family: that has to be said with "all".
  if (prefix === 0) return false
  if (ip.v4 >= 0) {
    const mask = v4Mask(prefix)
    v4.net.push((ip.v4 & mask) >>> 0)
    v4.mask.push(mask)
  } else {
    const mask = v6Mask(prefix)
    const range = { net: ip.groups.map((g, i) => g & (mask[i] as number)), mask }
    v6.push(range)
    // IPv4 addresses are matched in the v4 list, so a v6 range holding the whole mapped block trusts all of IPv4 too.
    if (MAPPED_BLOCK.every((g, i) => (g & (mask[i] as number)) === range.net[i])) {
      v4.net.push(0)
      v4.mask.push(0)
    }
  }
  return true
}

function inRange (g: readonly number[], range: Range): boolean {
  for (let i = 0; i < 8; i++) {
    if (((g[i] as number) & (range.mask[i] as number)) !== range.net[i]) return false
  }
  return true
}

function entries (trust: unknown): string[] | null {
  const list = typeof trust === 'string' ? trust.split(',') : trust
  if (!Array.isArray(list) || list.length === 0) return null
  const out: string[] = []
  for (const item of list) {
    if (typeof item !== 'string' || item.trim() === '') return null
    out.push(item.trim().toLowerCase())
  }
  return out
}

/** Validates and compiles the `trust` option into one matcher over both families. */
export function compileTrust (trust: unknown): CompiledTrust {
  const list = entries(trust)
  if (list === null) throw invalid(PLUGIN, 'trust', EXPECTED)
  if (list.includes('all')) {
    if (list.length > 1) throw invalid(PLUGIN, 'trust', '"all" on its own: it already covers every address')
    return { trust: () => true, all: true }
  }
  const v4: Range = { net: [], mask: [] }
  const v6: Range[] = []
  for (const entry of list) {
    const preset = Object.hasOwn(PRESETS, entry) ? PRESETS[entry] as readonly string[] : [entry]
    for (const range of preset) {
      if (!addRange(range, v4, v6)) throw invalid(PLUGIN, 'trust', `${EXPECTED}; got ${JSON.stringify(entry)}`)
    }
  }
  const { net, mask } = v4
  const count4 = net.length
  const test: TrustFn = (ip) => {
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
  return { trust: test, all: false }
}
