import { BlockList, isIP } from 'node:net'
import { invalid } from '@scaleout/core'

const PLUGIN = '@scaleout/health'

/** Answers whether a client address may see full details. */
export type AddressMatcher = (address: string) => boolean

const MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i

function family (address: string): 'ipv4' | 'ipv6' {
  return isIP(address) === 4 ? 'ipv4' : 'ipv6'
}

/**
 * Builds the matcher of `detailsAllowList`: addresses ("10.0.0.7", "::1") and CIDR ranges
 * ("10.0.0.0/8", "fd00::/8"). IPv4-mapped IPv6 clients ("::ffff:10.0.0.7", what a dual-stack
 * listener reports) are matched as the IPv4 address they are. Default: loopback only.
 */
export function allowList (value: unknown): AddressMatcher {
  const entries = value === undefined ? ['127.0.0.0/8', '::1'] : value
  const expected = 'an array of IP addresses or CIDR ranges such as "10.0.0.0/8"'
  if (!Array.isArray(entries)) throw invalid(PLUGIN, 'detailsAllowList', expected)
  const list = new BlockList()
  for (const entry of entries) {
    if (typeof entry !== 'string') throw invalid(PLUGIN, 'detailsAllowList', expected)
    const [address = '', bits, extra] = entry.trim().split('/')
    const version = isIP(address)
    const prefix = bits === undefined ? undefined : Number(bits)
    if (version === 0 || extra !== undefined || (prefix !== undefined && (!/^\d+$/.test(bits as string) || prefix > (version === 4 ? 32 : 128)))) {
      throw invalid(PLUGIN, 'detailsAllowList', `${expected} (got ${JSON.stringify(entry)})`)
    }
    if (prefix === undefined) list.addAddress(address, family(address))
    else list.addSubnet(address, prefix, family(address))
  }
  return (address) => {
    const mapped = MAPPED.exec(address)
    const plain = mapped === null ? address : mapped[1] as string
    return isIP(plain) !== 0 && list.check(plain, family(plain))
  }
}
