import { settle } from './callbacks.js'
import { SessionDisabledError } from './errors.js'
import type { RequestSession, SessionCallback } from './types.js'

function fail (): never {
  throw new SessionDisabledError()
}

/** A rejected promise or, given a callback (the last argument), the error passed to it. */
function failLater (...args: unknown[]): Promise<void> | undefined {
  const callback = args.find((arg) => typeof arg === 'function') as SessionCallback | undefined
  return settle(async () => { fail() }, callback)
}

/**
 * What `request.session` is on a `{ session: false }` route: every use is a coded error, so a
 * handler that relies on sessions there fails loudly instead of silently getting none.
 */
export const disabledSession: RequestSession = Object.freeze({
  get id (): string { return fail() },
  get sessionId (): string { return fail() },
  get isNew (): boolean { return fail() },
  get encryptedSessionId (): string { return fail() },
  get cookie (): RequestSession['cookie'] { return fail() },
  options: fail,
  get: fail,
  set: fail,
  delete: fail,
  has: fail,
  data: fail,
  touch: fail,
  isModified: fail,
  isSaved: fail,
  regenerate: failLater as RequestSession['regenerate'],
  destroy: failLater as RequestSession['destroy'],
  reload: failLater as RequestSession['reload'],
  save: failLater as RequestSession['save']
})
