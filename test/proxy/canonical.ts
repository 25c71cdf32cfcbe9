import { isIPv4, isIPv6 } from 'node:net'

/**
 * An address's canonical text computed without the plugin's parser (the oracle for differential and
 * property tests): WHATWG URL for IPv6 (RFC 5952 form), IPv4-mapped IPv6 as dotted IPv4.
 */
export function canonical (address: string): string {
  if (isIPv4(address)) return address
  if (!isIPv6(address)) return `not-an-ip(${address})`
  const host = new URL(`http://[${address}]/`).hostname.slice(1, -1)
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host)
  if (mapped === null) return host
  const hi = parseInt(mapped[1] as string, 16)
  const lo = parseInt(mapped[2] as string, 16)
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`
}
