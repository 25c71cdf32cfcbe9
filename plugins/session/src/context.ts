import type { SizedCodec } from '@scaleout/core'
import type { FastifyRequest } from 'fastify'
import type { Settings } from './options.js'
import type { Store } from './store.js'

/** What every session of one plugin instance shares. */
export interface Context {
  readonly settings: Settings
  readonly store: Store
  readonly codec: SizedCodec
  /**
   * Takes a request's session cookie into its session (see plugin.ts), once: what the plugin's
   * onRequest hook does, and what a session made before that hook ran does first when it must know
   * the request's session (regenerate(), destroy(), save()).
   */
  readonly begin: (request: FastifyRequest) => Promise<unknown> | undefined
}
