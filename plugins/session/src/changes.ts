import { hasLoneSurrogate, type SizedCodec } from '@scaleout/core'
import type { FastifyRequest } from 'fastify'
import { InvalidUserIdError, SessionTooLargeError } from './errors.js'
import { DATA, META_AGENT, META_IP, META_USER } from './fields.js'
import type { StoredValues } from './stored.js'
import type { UserChange } from './store.js'

/** The most of a User-Agent header a session records. */
export const MAX_USER_AGENT = 512
/** The longest address a session records: IPv6 with an interface (zone) name. */
export const MAX_IP = 64

/** What a save writes: field/value pairs, fields to delete, and each set key's encoded value. */
export interface Encoded {
  sets: string[]
  deletes: string[]
  encoded: Map<string, string>
  /** Changed keys whose value is what is stored already: nothing to write for them. */
  unchanged: string[]
}

const MAX_KEY = 256

/**
 * A key data() would hand back as an own `__proto__` property, which Object.assign or a merge of
 * data() turns into the target's prototype.
 */
export const PROTO_KEY = '__proto__'

/** A string of 1 to 256 characters that is valid Unicode (a lone surrogate would reach Redis as U+FFFD: two keys, one field), other than `__proto__`. */
export function isSessionKey (key: unknown): key is string {
  return typeof key === 'string' && key.length > 0 && key.length <= MAX_KEY && key !== PROTO_KEY && !hasLoneSurrogate(key)
}

/** A user id: a non-empty string of valid Unicode (it names a Redis key), or a finite number. */
export function isUserId (value: unknown): value is string | number {
  return (typeof value === 'string' && value !== '' && !hasLoneSurrogate(value)) || (typeof value === 'number' && Number.isFinite(value))
}

/**
 * Encodes the changed values; `stored` is null for a session being created. A new session's size
 * is known here; an existing one's depends on what parallel writers stored, so maxBytes is
 * enforced on it later (see log.ts). Here only what this request alone writes is checked, so a
 * save that could never fit costs no Redis call: values over maxBytes by themselves, unless they
 * replace at least as many bytes (a session over a lowered maxBytes may always shrink).
 */
export function encodeChanges (codec: SizedCodec, maxBytes: number, changed: Iterable<string>, values: ReadonlyMap<string, unknown>, stored: StoredValues | null): Encoded {
  const sets: string[] = []
  const deletes: string[] = []
  const encoded = new Map<string, string>()
  const unchanged: string[] = []
  let size = 0
  for (const key of changed) {
    const value = values.get(key)
    const before = stored?.get(key)
    if (value === undefined) {
      if (before !== undefined) deletes.push(DATA + key)
      else if (stored !== null) unchanged.push(key)
      continue
    }
    const text = codec.encode(value) as string
    if (text === before) {
      unchanged.push(key)
      continue
    }
    encoded.set(key, text)
    size += DATA.length + Buffer.byteLength(key) + Buffer.byteLength(text)
    sets.push(DATA + key, text)
  }
  if (size > maxBytes && (stored === null || size > replacedBytes(stored, sets, deletes))) throw new SessionTooLargeError(size, maxBytes)
  return { sets, deletes, encoded, unchanged }
}

/** Bytes the stored values of the fields a write sets or deletes take: what it replaces. */
function replacedBytes (stored: StoredValues, sets: readonly string[], deletes: readonly string[]): number {
  let bytes = 0
  const add = (field: string): void => {
    const before = stored.get(field.slice(DATA.length))
    if (before !== undefined) bytes += Buffer.byteLength(field) + Buffer.byteLength(before)
  }
  for (let i = 0; i < sets.length; i += 2) add(sets[i] as string)
  for (const field of deletes) add(field)
  return bytes
}

/** The user id after a save, which user indexes change, and the metadata field to write. */
export interface UserUpdate {
  user: string | undefined
  change: UserChange
  meta: { sets: string[], deletes: string[] }
}

/** A save that leaves the user key alone. */
export function sameUser (user: string | undefined): UserUpdate {
  return { user, change: { add: undefined, remove: undefined }, meta: { sets: [], deletes: [] } }
}

/**
 * A save that may change the user: `value` is what the user key holds after it, `previous` the user
 * the stored session is indexed under; `rotating` when the save replaces the stored session.
 */
export function userUpdate (userKey: string, value: unknown, previous: string | undefined, creating: boolean, rotating: boolean): UserUpdate {
  let user: string | undefined
  if (value !== undefined) {
    if (!isUserId(value)) throw new InvalidUserIdError(userKey)
    user = String(value)
  }
  const meta = { sets: user === undefined ? [] : [META_USER, user], deletes: user === undefined && !creating ? [META_USER] : [] }
  if (creating) return { user, change: { add: user, remove: rotating ? previous : undefined }, meta }
  if (user === previous) return { user, change: { add: undefined, remove: undefined }, meta }
  return { user, change: { add: user, remove: previous }, meta }
}

/** A new session also records who created it, for `listFor`. */
export function withClient (request: FastifyRequest, sets: string[]): string[] {
  const agent = request.headers['user-agent'] ?? ''
  // No address on a Unix socket (request.ip is undefined there).
  const ip: unknown = request.ip
  return [...sets, META_IP, typeof ip === 'string' && ip.length <= MAX_IP ? ip : '', META_AGENT, agent.slice(0, MAX_USER_AGENT)]
}
