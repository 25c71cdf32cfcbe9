import { SessionDisabledError } from './errors.js'
import type { RequestSession } from './types.js'

function fail (): never {
  throw new SessionDisabledError()
}

async function failLater (): Promise<never> {
  fail()
}

/**
 * What `request.session` is on a `{ session: false }` route: every use is a coded error, so a
 * handler that relies on sessions there fails loudly instead of silently getting none.
 */
export const disabledSession: RequestSession = Object.freeze({
  get id (): string { return fail() },
  get sessionId (): string { return fail() },
  get isNew (): boolean { return fail() },
  get: fail,
  set: fail,
  delete: fail,
  has: fail,
  data: fail,
  touch: fail,
  regenerate: failLater,
  destroy: failLater,
  reload: failLater,
  save: failLater
})
