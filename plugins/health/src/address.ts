import { BlockList, isIP } from 'node:net'
import type { FastifyRequest } from 'fastify'
import { invalid } from '@scaleout/core'

const PLUGIN = '@scaleout/health'

/** Answers whether a request may see full details. */
export type DetailsGate = (request: FastifyRequest) => boolean

const MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i

// Headers a proxy adds when it forwards a request. Their presence says a proxy delivered it.
const FORWARDING = ['forwarded', 'x-forwarded-for', 'x-real-ip', 'x-forwarded-host', 'x-forwarded-proto', 'cf-connecting-ip', 'true-client-ip']

function family (address: string): 'ipv4' | 'ipv6' {
  return isIP(address) === 4 ? 'ipv4' : 'ipv6'
}

function plain (address: string): string {
  const mapped = MAPPED.exec(address)
  return mapped === null ? address : mapped[1] as string
}

/** Whether two spellings name one address ("::ffff:127.0.0.1" and "127.0.0.1", "0:0::1" and "::1"). */
function same (a: string, b: string): boolean {
  const one = plain(a)
  const other = plain(b)
  const list = new BlockList()
  list.addAddress(other, family(other))
  return list.check(one, family(one))
}

function forwardedBy (request: FastifyRequest): boolean {
  const headers = request.raw.headers
  return FORWARDING.some((name) => headers[name] !== undefined)
}

/**
 * Builds the gate of `detailsAllowList`: addresses ("10.0.0.7", "::1") and CIDR ranges
 * ("10.0.0.0/8", "fd00::/8") matched against `request.ip`; IPv4-mapped IPv6 clients match as the
 * IPv4 address they are. Default: nobody, because behind a same-host proxy or sidecar every client
 * looks like loopback. A request that carries forwarding headers but whose request.ip is still
 * the socket peer came through a proxy the app does not read (or whose header it refused): it is
 * not the client's address, so it never counts.
 */
export function detailsGate (value: unknown): DetailsGate {
  const entries = value === undefined ? [] : value
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
  if (entries.length === 0) return () => false
  return (request) => {
    const address = plain(request.ip)
    if (isIP(address) === 0 || !list.check(address, family(address))) return false
    if (!forwardedBy(request)) return true
    // An HTTP/2 stream whose socket is gone has no peer to compare: it does not count.
    return !same(address, request.raw.socket?.remoteAddress ?? address)
  }
}
