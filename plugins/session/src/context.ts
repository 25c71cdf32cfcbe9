import type { SizedCodec } from '@scaleout/core'
import type { Settings } from './options.js'
import type { Store } from './store.js'

/** What every session of one plugin instance shares. */
export interface Context {
  readonly settings: Settings
  readonly store: Store
  readonly codec: SizedCodec
}
