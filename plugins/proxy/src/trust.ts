import { ADDRESS_LIST_SYNTAX, ADDRESS_PRESETS, compileAddressList, invalid, type Ip } from '@scaleout/core'
import { PLUGIN } from './errors.js'

/** The core's named ranges, which `trust` accepts. */
export const PRESETS = ADDRESS_PRESETS

export type TrustFn = (ip: Ip) => boolean

export interface CompiledTrust {
  readonly trust: TrustFn
  /** True when the option was the explicit `"all"`. */
  readonly all: boolean
}

const EXPECTED = `"all", or a non-empty list (array or comma-separated string) of ${ADDRESS_LIST_SYNTAX}`
// Said only when an entry is refused: 0.0.0.0/0, ::/0 and IPv6 ranges around ::ffff:0:0/96 parse
// as CIDRs, and the plain syntax would not tell why they are refused.
const WHOLE_FAMILY = 'no range holding every IPv4 or every IPv6 address (0.0.0.0/0, ::/0, or an IPv6 range holding ::ffff:0:0/96 such as ::/64): to trust everyone, say "all"'

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

/** Validates and compiles the `trust` option (the core's address-list syntax, or `"all"`). */
export function compileTrust (trust: unknown): CompiledTrust {
  const list = entries(trust)
  if (list === null) throw invalid(PLUGIN, 'trust', EXPECTED)
  if (list.includes('all')) {
    if (list.length > 1) throw invalid(PLUGIN, 'trust', '"all" on its own: it already covers every address')
    return { trust: () => true, all: true }
  }
  const compiled = compileAddressList(list)
  if (typeof compiled !== 'function') throw invalid(PLUGIN, 'trust', `${EXPECTED}, ${WHOLE_FAMILY}; got ${JSON.stringify(compiled.invalid)}`)
  return { trust: compiled, all: false }
}
