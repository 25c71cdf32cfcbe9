import { settle } from './callbacks.js'
import { kDestroy, kRegenerate, kReload, kSave, SessionState } from './state.js'
import type { RequestSession, SessionCallback, SessionKey } from './types.js'

/**
 * `request.session`. The methods that reach Redis take @fastify/session's optional callback, and
 * return a promise without one (see callbacks.ts).
 */
export class Session extends SessionState implements RequestSession {
  regenerate (keep?: SessionKey[]): Promise<void>
  regenerate (callback: SessionCallback): undefined
  regenerate (keep: SessionKey[] | undefined, callback: SessionCallback): undefined
  regenerate (keep?: SessionKey[] | SessionCallback, callback?: SessionCallback): Promise<void> | undefined {
    if (typeof keep === 'function') return settle(async () => { await this[kRegenerate]([]) }, keep)
    return settle(async () => { await this[kRegenerate](keep ?? []) }, callback)
  }

  destroy (): Promise<void>
  destroy (callback: SessionCallback): undefined
  destroy (callback?: SessionCallback): Promise<void> | undefined {
    return settle(async () => { await this[kDestroy]() }, callback)
  }

  reload (): Promise<void>
  reload (callback: SessionCallback): undefined
  reload (callback?: SessionCallback): Promise<void> | undefined {
    return settle(async () => { await this[kReload]() }, callback)
  }

  save (): Promise<void>
  save (callback: SessionCallback): undefined
  save (callback?: SessionCallback): Promise<void> | undefined {
    return settle(async () => { await this[kSave]() }, callback)
  }
}
