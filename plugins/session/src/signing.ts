import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

// A session id is a slot tag (6 random bytes, 8 base64url characters) followed by 32 fresh random
// bytes (43 characters). regenerate() keeps the tag and replaces the rest, so the old and the new
// key share a Redis Cluster slot and one script can swap them atomically; the 256 new bits are
// what an attacker who planted the old id cannot know.
const TAG_LENGTH = 8
export const ID_LENGTH = TAG_LENGTH + 43
const SIGNATURE_LENGTH = 43
const COOKIE_VALUE = new RegExp(`^[A-Za-z0-9_-]{${ID_LENGTH}}\\.[A-Za-z0-9_-]{${SIGNATURE_LENGTH}}$`)

export function newId (previous?: string): string {
  const tag = previous === undefined ? randomBytes(6).toString('base64url') : previous.slice(0, TAG_LENGTH)
  return tag + randomBytes(32).toString('base64url')
}

/** The part of the id that decides the Redis Cluster slot. */
export function slotTag (id: string): string {
  return id.slice(0, TAG_LENGTH)
}

/** What logs and `listFor` show instead of the id: 96 bits of its SHA-256, not reversible. */
export function digest (id: string): string {
  return createHash('sha256').update(id).digest('base64url').slice(0, 16)
}

function signature (id: string, secret: string): string {
  return createHmac('sha256', secret).update(id).digest('base64url')
}

/** The cookie value: `<id>.<HMAC-SHA256 of id under the first secret>`. */
export function sign (id: string, secrets: readonly string[]): string {
  return id + '.' + signature(id, secrets[0] as string)
}

/** A cookie value and the id it signs. */
export interface Signed {
  id: string
  value: string
}

/** `id`'s cookie value, reusing `last` when it is the same id's. */
export function signed (id: string, secrets: readonly string[], last: Signed | null): Signed {
  return last?.id === id ? last : { id, value: sign(id, secrets) }
}

export interface Verified {
  id: string
  /** Signed with an older secret: send the cookie again signed with the current one. */
  resign: boolean
}

/**
 * A value of any other length is refused before anything reads it (a cookie can be 16 KB long).
 * One verified lately is then taken from the cache (which holds only values that verified);
 * others have their alphabet checked so garbage costs no HMAC, then the signature compared in
 * constant time against each secret. Returns null for anything not ours.
 */
export function verify (value: string, secrets: readonly string[]): Verified | null {
  if (value.length !== ID_LENGTH + 1 + SIGNATURE_LENGTH) return null
  const cached = verifiedCache.get(value)
  if (cached !== undefined && cached.secrets === secrets) return cached.verified
  if (!COOKIE_VALUE.test(value)) return null
  const verified = check(value, secrets)
  if (verified !== null) {
    if (verifiedCache.size >= CACHE_SIZE) verifiedCache.clear()
    verifiedCache.set(value, { secrets, verified })
  }
  return verified
}

// Recently verified cookie values, so a busy session costs a map lookup rather than an HMAC.
// Only values that verified are kept: a hit tells a caller nothing they did not already hold
// (a validly signed cookie). Entries remember which secret list verified them.
const CACHE_SIZE = 10_000
const verifiedCache = new Map<string, { secrets: readonly string[], verified: Verified }>()

/** How many verified values are cached (for tests: the cache must stay bounded). */
export function cachedVerifications (): number {
  return verifiedCache.size
}

function check (value: string, secrets: readonly string[]): Verified | null {
  const id = value.slice(0, ID_LENGTH)
  const given = Buffer.from(value.slice(ID_LENGTH + 1), 'latin1')
  for (let i = 0; i < secrets.length; i++) {
    // Comparing the text, not decoded bytes, rejects non-canonical base64 spellings of a signature.
    if (timingSafeEqual(given, Buffer.from(signature(id, secrets[i] as string), 'latin1'))) return { id, resign: i > 0 }
  }
  return null
}
