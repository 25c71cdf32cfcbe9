import { safeJsonParse } from '@scaleout/core'
import { BLOCK } from './log.js'

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
  const fields = parseObject(text.endsWith('}') ? text : text + '}')
  // A record that writes expecting a session appended to: its first block is the record (see log.ts).
  if (fields === null && text.length > BLOCK && Buffer.byteLength(text) % BLOCK === 0) return parseObject(text.slice(0, BLOCK))
  return fields
}

/** A closed JSON object's fields, or null. */
function parseObject (text: string): Fields | null {
  // Text that parses and ends with a closing brace is a JSON object: no other JSON value ends so.
  if (!text.endsWith('}')) return null
  try {
    // The core's parse: no own __proto__ in what Redis hands back, however it is spelled.
    return safeJsonParse(text) as Fields
  } catch {
    return null
  }
}

/** A stored session as one load read it: shared by the requests of a turn that share the load. */
export interface Stored {
  readonly fields: Fields
  /** The text as loaded: its length in bytes is what the next append expects. */
  readonly text: string
  /** Counted when first needed (-1 until then). */
  bytes: number
  dataBytes: number
}

const EMPTY: Stored = { fields: NONE, text: '', bytes: 0, dataBytes: 0 }

/** A stored session with the text it was read from, or null when the text is not a session or record. */
export function storedOf (text: string | null): Stored | null {
  const fields = parseStored(text)
  return fields === null ? null : { fields, text: text as string, bytes: -1, dataBytes: -1 }
}

/**
 * One request's view of a stored session's encoded values, read straight from the shared parsed
 * fields: a read-only request looks up the keys it uses and never builds a Map (building one for
 * every field costs about as much as parsing the JSON). What this request's saves wrote is kept
 * on top, in a Map of its own; a request that lists the values gets a whole Map of its own.
 */
export class StoredValues {
  readonly #stored: Stored
  #map: Map<string, string> | null = null
  /** Keys this request's saves wrote since (undefined: removed), until a whole Map is built. */
  #written: Map<string, string | undefined> | null = null

  constructor (stored: Stored = EMPTY) {
    this.#stored = stored
  }

  /** The fields as loaded (shared: never to be changed). */
  get fields (): Fields {
    return this.#stored.fields
  }

  /** The stored absolute deadline (ms since the epoch); NaN for values that were never loaded. */
  get deadline (): number {
    return Number(this.#stored.fields[META_DEADLINE])
  }

  /** The text was stored closed, by an earlier version: the next write rewrites it rather than append. */
  get closed (): boolean {
    return this.#stored.text.endsWith('}')
  }

  /** Bytes of the stored text as loaded, counted once per load. */
  get logBytes (): number {
    const stored = this.#stored
    if (stored.bytes < 0) stored.bytes = Buffer.byteLength(stored.text)
    return stored.bytes
  }

  /** Bytes the loaded data fields take (`d:<key>` and value), counted once per load. */
  get dataBytes (): number {
    const stored = this.#stored
    if (stored.dataBytes < 0) {
      let n = 0
      for (const field in stored.fields) {
        const value = stored.fields[field]
        if (typeof value === 'string' && field.startsWith(DATA)) n += Buffer.byteLength(field) + Buffer.byteLength(value)
      }
      stored.dataBytes = n
    }
    return stored.dataBytes
  }

  get (key: string): string | undefined {
    if (this.#map !== null) return this.#map.get(key)
    if (this.#written?.has(key) === true) return this.#written.get(key)
    // Every name looked up starts with `d:`, so none can reach an Object.prototype member.
    const value = this.#stored.fields[DATA + key]
    return typeof value === 'string' ? value : undefined
  }

  /** Records what a save of this request wrote for `key` (undefined: removed). */
  put (key: string, text: string | undefined): void {
    if (this.#map === null) (this.#written ??= new Map()).set(key, text)
    else if (text === undefined) this.#map.delete(key)
    else this.#map.set(key, text)
  }

  /** This request's own Map of the values, to list them. */
  map (): Map<string, string> {
    if (this.#map === null) {
      const map = new Map<string, string>()
      for (const [field, value] of Object.entries(this.#stored.fields)) {
        if (typeof value === 'string' && field.startsWith(DATA)) map.set(field.slice(DATA.length), value)
      }
      for (const [key, text] of this.#written ?? []) {
        if (text === undefined) map.delete(key)
        else map.set(key, text)
      }
      this.#map = map
      this.#written = null
    }
    return this.#map
  }
}
