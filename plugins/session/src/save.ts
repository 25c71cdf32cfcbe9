import type { FastifyRequest } from 'fastify'
import { sameUser, userUpdate, withClient } from './changes.js'
import { SessionTooLargeError } from './errors.js'
import type { Context } from './context.js'
import { digest } from './signing.js'
import type { SessionValues } from './values.js'

/** What a save starts from: the session's ids and its values. */
export interface Saving {
  /** The id to save under: `stored`, or a new one when rotating or creating (made on first call). */
  id: () => string
  /** The id Redis knows the session by; undefined while it was never saved. */
  stored: string | undefined
  /** A regenerate() is pending: `stored` is replaced by `id` in the same step. */
  rotate: boolean
  /** `stored` was never read (lazy route): it may be gone, and its user is unknown. */
  blind: boolean
  /** The user the stored session is indexed under. */
  user: string | undefined
  values: SessionValues
  /** An explicit save(): creates even an empty session. */
  force: boolean
  /**
   * The session's own cookie attributes as metadata field/value pairs (see own-cookie.ts): written
   * when the session is created (or regenerated), else only when `ownChanged`.
   */
  own: string[]
  ownChanged: boolean
  /** The session's idle time after this save (see own-cookie.ts idleOf): what a creation or a merging write sets its expiry to. */
  idle: number
}

/** `nothing` to write; the session is `gone` (changes dropped); or saved, `created` or not. */
export type Saved = 'nothing' | 'gone' | { created: boolean, user: string | undefined }

/** Writes what changed: a new session (or a regenerated one, in place of the old) or the changed fields. */
export async function save (ctx: Context, request: FastifyRequest, s: Saving): Promise<Saved> {
  const { values } = s
  const creating = s.rotate || (s.stored === undefined && (s.force || values.hasData()))
  const id = creating ? s.id() : s.stored as string
  if (!creating && values.changes === 0 && !s.ownChanged) return 'nothing'
  const { settings, store } = ctx
  const { sets, deletes, encoded, generations } = values.encode(settings.maxBytes, creating)
  if (!creating && values.changes === 0 && !s.ownChanged) return 'nothing'
  const { userKey } = settings
  const { user, change, meta } = creating || values.isChanged(userKey)
    ? userUpdate(userKey, values.get(userKey), s.user, creating, s.rotate)
    : sameUser(s.user)
  sets.push(...meta.sets)
  deletes.push(...meta.deletes)
  if (creating || s.ownChanged) sets.push(...s.own)
  // An append leaves the key's expiry as the read set it: a change of the session's own cookie
  // attributes (its maxAge, so its idle time, among them; all are rare) merges, in a script that
  // sets the expiry with the change (and, with `durable`, before its WAIT).
  const plan = creating || s.ownChanged ? null : values.writePlan(sets, deletes, settings.maxBytes)
  const oldId = s.rotate ? s.stored : undefined
  const { status, logBytes } = creating
    ? { status: await store.create(id, oldId, withClient(request, sets), change, s.blind, s.idle), logBytes: null }
    : await store.write(id, sets, deletes, change, plan, () => values.before(sets, deletes), s.idle)
  if (status < 0) throw new SessionTooLargeError(-status, settings.maxBytes)
  if (status === 0) {
    // Destroyed (or expired) by another request meanwhile: writing now would resurrect it.
    request.log.warn({ session: digest(oldId ?? id) }, '@scaleout/session: session ended while this request ran; its changes were dropped')
    return 'gone'
  }
  values.saved(encoded, generations, logBytes)
  return { created: creating, user }
}
