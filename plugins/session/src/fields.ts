import { safeJsonParse } from '@scaleout/core'

// A session is one Redis string: a JSON object whose fields are `d:<key>` (an encoded value) and
// `m:*` metadata (created, deadline, ip, user agent, user id). The prefixes keep user keys from
// ever colliding with metadata; every field is a string (or null: a removed key), so Lua's cjson
// never touches a number. The object is left open (no closing brace): a write appends its changed
// fields to it, `,"d:k":"v"`, and readers close it; JSON keeps the last of repeated fields, so the
// log reads as the merged session without Redis decoding it (see log.ts). Records that are not
// sessions (a regenerated session's forwarding record, destroyAllFor's marker) are closed objects.
export const DATA = 'd:'
export const META_USER = 'm:u'
export const META_CREATED = 'm:c'
export const META_DEADLINE = 'm:d'
/** A regenerated session's forwarding record (see scripts.ts). */
export const META_NEXT = 'm:n'

export type Fields = Readonly<Record<string, unknown>>

/** The fields of values that were never loaded. */
const NONE: Fields = Object.freeze({})

/** The stored fields (a removed key reads as null), or null when the text is not a session or record (corrupt, or written by someone else). */
export function parseStored (text: string | null): Fields | null {
  if (text === null) return null
  let fields: unknown
  try {
    // The core's parse: no own __proto__ in what Redis hands back, however it is spelled.
    fields = safeJsonParse(text.endsWith('}') ? text : text + '}')
  } catch {
    return null
  }
  // Text that parses and ends with a closing brace is a JSON object: no other JSON value ends so.
  return fields as Fields
}

/**
 * A stored session's encoded values, read straight from its parsed fields: a read-only request
 * looks up the keys it uses and never builds a Map (building one for every field costs about as
 * much as parsing the JSON). The fields are never changed, so parallel loads share them; a request
 * that lists or changes values gets a Map of its own.
 */
export class StoredValues {
  readonly #fields: Fields
  #map: Map<string, string> | null = null
  /** The stored text, as loaded: its length in bytes is what the next append expects. */
  readonly #text: string
  #bytes = -1

  constructor (fields: Fields = NONE, text = '') {
    this.#fields = fields
    this.#text = text
  }

  /** The stored fields (none for values that were never loaded). */
  get fields (): Fields {
    return this.#fields
  }

  /** The stored absolute deadline (ms since the epoch); NaN for values that were never loaded. */
  get deadline (): number {
    return Number(this.#fields[META_DEADLINE])
  }

  /** The text was stored closed, by an earlier version: the next write rewrites it rather than append. */
  get closed (): boolean {
    return this.#text.endsWith('}')
  }

  /** Bytes of the stored text as loaded, counted once (parallel loads share them). */
  get logBytes (): number {
    if (this.#bytes < 0) this.#bytes = Buffer.byteLength(this.#text)
    return this.#bytes
  }

  get (key: string): string | undefined {
    if (this.#map !== null) return this.#map.get(key)
    // Every name looked up starts with `d:`, so none can reach an Object.prototype member.
    const value = this.#fields[DATA + key]
    return typeof value === 'string' ? value : undefined
  }

  /** This request's own Map of the values, to list or change. */
  map (): Map<string, string> {
    if (this.#map === null) {
      this.#map = new Map()
      for (const [field, value] of Object.entries(this.#fields)) {
        if (typeof value === 'string' && field.startsWith(DATA)) this.#map.set(field.slice(DATA.length), value)
      }
    }
    return this.#map
  }
}

/** A stored session's values with the text they were read from, or null when it is not a session or record. */
export function storedValues (text: string | null): StoredValues | null {
  const fields = parseStored(text)
  return fields === null ? null : new StoredValues(fields, text as string)
}
