import { invalid, parseHop, parseSocketAddress } from '@scaleout/core'
import { PLUGIN } from './errors.js'
import { checkTrustProxyRelease, installedFastify } from './fastify-release.js'
import { normalizeOptions } from './options.js'
import type { TrustProxyOptions } from './types.js'

/**
 * A function for `Fastify({ trustProxy })`: the same trust list and `maxHops`, with entries parsed
 * strictly (ports stripped, mapped IPv4 normalised, garbage never trusted). Fastify still does its
 * own walk over X-Forwarded-For and takes host and protocol from the last value; register the
 * plugin for the full rules. Refused (SCALEOUT_ERR_PROXY_UNSAFE_FASTIFY) on a Fastify that would
 * read the forwarded protocol and host from peers the list does not trust.
 */
export function trustProxy (options: TrustProxyOptions): (address: string, hop: number) => boolean {
  const config = normalizeOptions(options, ['trust', 'maxHops', 'header'])
  if (config.header !== 'x-forwarded-for') {
    throw invalid(PLUGIN, 'header', '"x-forwarded-for" (Fastify\'s trustProxy reads no other header; register the plugin to use another)')
  }
  checkTrustProxyRelease(installedFastify())
  if (config.trustAll) process.emitWarning('trust is "all": any client that reaches this server directly can choose its own IP', { code: 'SCALEOUT_PROXY_TRUST_ALL' })
  const { trust, maxHops } = config
  return (address, hop) => {
    if (hop >= maxHops) return false
    const ip = hop === 0 ? parseSocketAddress(address) : parseHop(address)
    return ip !== null && trust(ip)
  }
}
