import type { FastifyRequest } from 'fastify'
import { ADDRESS_LIST_SYNTAX, compileAddressList, invalid, parseSocketAddress } from '@scaleout/core'

const PLUGIN = '@scaleout/health'

/** Answers whether a request may see full details. */
export type DetailsGate = (request: FastifyRequest) => boolean

// Headers a proxy adds when it forwards a request. Their presence says a proxy delivered it.
const FORWARDING = ['forwarded', 'x-forwarded-for', 'x-real-ip', 'x-forwarded-host', 'x-forwarded-proto', 'cf-connecting-ip', 'true-client-ip']

function forwardedBy (request: FastifyRequest): boolean {
  const headers = request.raw.headers
  return FORWARDING.some((name) => headers[name] !== undefined)
}

/**
 * Builds the gate of `detailsAllowList`: the core's address-list syntax (addresses, CIDR ranges of
 * both families, presets such as "private") matched against `request.ip`; IPv4-mapped IPv6
 * clients match as the IPv4 address they are. Default: nobody, because behind a same-host proxy or
 * sidecar every client looks like loopback. A request that carries forwarding headers but whose
 * request.ip is still the socket peer came through a proxy the app does not read (or whose header
 * it refused): it is not the client's address, so it never counts.
 */
export function detailsGate (value: unknown): DetailsGate {
  const entries = value === undefined ? [] : value
  const expected = `an array of IP addresses or CIDR ranges such as "10.0.0.0/8": ${ADDRESS_LIST_SYNTAX}`
  if (!Array.isArray(entries) || !entries.every((entry) => typeof entry === 'string')) throw invalid(PLUGIN, 'detailsAllowList', expected)
  const allowed = compileAddressList(entries as string[])
  if (typeof allowed !== 'function') throw invalid(PLUGIN, 'detailsAllowList', `${expected} (got ${JSON.stringify(allowed.invalid)})`)
  if (entries.length === 0) return () => false
  return (request) => {
    const address = parseSocketAddress(request.ip)
    if (address === null || !allowed(address)) return false
    if (!forwardedBy(request)) return true
    // An HTTP/2 stream whose socket is gone has no peer to compare: it does not count.
    const peer = parseSocketAddress(request.raw.socket?.remoteAddress ?? '')
    return peer !== null && peer.text !== address.text
  }
}
