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
  if (typeof compiled !== 'function') throw invalid(PLUGIN, 'trust', `${EXPECTED}; got ${JSON.stringify(compiled.invalid)}`)
  return { trust: compiled, all: false }
}
