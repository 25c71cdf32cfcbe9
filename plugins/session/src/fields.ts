import { safeJsonParse } from '@scaleout/core'

// A session is one Redis string: a JSON object whose fields are `d:<key>` (an encoded value) and
// `m:*` metadata (created, deadline, ip, user agent, user id). The prefixes keep user keys from
// ever colliding with metadata; every field is a string, so Lua's cjson never touches a number.
export const DATA = 'd:'
export const META_USER = 'm:u'
export const META_CREATED = 'm:c'
export const META_DEADLINE = 'm:d'
/** A regenerated session's forwarding record (see scripts.ts). */
export const META_NEXT = 'm:n'

export type Fields = Readonly<Record<string, unknown>>

/** The stored fields, or null when the text is not a session (corrupt, or written by someone else). */
export function parseStored (text: string | null): Fields | null {
  if (text === null) return null
  let fields: unknown
  try {
    // The core's parse: no own __proto__ in what Redis hands back, however it is spelled.
    fields = safeJsonParse(text)
  } catch {
    return null
  }
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) return null
  return fields as Fields
}

/**
 * A stored session's encoded values, read straight from its parsed fields: a read-only request
 * looks up the keys it uses and never builds a Map (building one for every field costs about as
 * much as parsing the JSON). The fields are never changed, so parallel loads share them; a request
 * that lists or changes values gets a Map of its own.
 */
export class StoredValues {
  readonly #fields: Fields | null
  #map: Map<string, string> | null = null

  constructor (fields: Fields | null = null) {
    this.#fields = fields
  }

  get (key: string): string | undefined {
    if (this.#map !== null) return this.#map.get(key)
    // Every name looked up starts with `d:`, so none can reach an Object.prototype member.
    const value = this.#fields?.[DATA + key]
    return typeof value === 'string' ? value : undefined
  }

  /** This request's own Map of the values, to list or change. */
  map (): Map<string, string> {
    if (this.#map === null) {
      this.#map = new Map()
      for (const [field, value] of Object.entries(this.#fields ?? {})) {
        if (typeof value === 'string' && field.startsWith(DATA)) this.#map.set(field.slice(DATA.length), value)
      }
    }
    return this.#map
  }
}
