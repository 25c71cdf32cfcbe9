import { checkInteger, checkOptions, invalid } from '@scaleout/core'
import { PLUGIN } from './errors.js'
import { compileAllowedHosts, type HostCheck } from './host.js'
import { compileTrust, type TrustFn } from './trust.js'
import type { ProxyHeader } from './types.js'

export const HEADERS: readonly ProxyHeader[] = ['x-forwarded-for', 'forwarded', 'x-real-ip', 'cf-connecting-ip', 'true-client-ip']

/** Options as the resolver uses them, every one checked. */
export interface Config {
  readonly trust: TrustFn
  readonly trustAll: boolean
  readonly maxHops: number
  readonly header: ProxyHeader
  /** X-Forwarded-For and Forwarded are lists walked hop by hop; the others name one address. */
  readonly list: boolean
  readonly allowedHosts: HostCheck | null
}

// The plugin adds no routes, so Fastify's register keys (`prefix`, `logLevel`, `logSerializers`)
// would mean nothing: they are not listed, and checkOptions refuses them.
export const KNOWN = ['trust', 'maxHops', 'header', 'allowedHosts']

export function normalizeOptions (raw: unknown, known: readonly string[] = KNOWN): Config {
  const options = checkOptions(PLUGIN, raw, known)
  const { trust, all } = compileTrust(options.trust)
  const maxHops = options.maxHops === undefined ? Infinity : checkInteger(PLUGIN, 'maxHops', options.maxHops, 1, 1000)
  const header = options.header ?? 'x-forwarded-for'
  if (!HEADERS.includes(header as ProxyHeader)) throw invalid(PLUGIN, 'header', `one of ${HEADERS.join(', ')}`)
  const allowedHosts = options.allowedHosts === undefined ? null : compileAllowedHosts(options.allowedHosts)
  return {
    trust,
    trustAll: all,
    maxHops,
    header: header as ProxyHeader,
    list: header === 'x-forwarded-for' || header === 'forwarded',
    allowedHosts
  }
}
