import { DATA, META_DEADLINE, parseStored, type Fields } from './fields.js'
import type { Own } from './own-cookie.js'

/** A text parsed whole, and the bytes its data fields take (counted when first needed, -1 until then). */
interface Parsed {
  readonly fields: Fields
  dataBytes: number
}

/**
 * A stored session as one load read it: shared by the requests of a turn that share the load, and
 * kept for the session's next read (see recent.ts). Its fields come in two layers: `base`, a text
 * parsed whole, and `appended`, the fields written behind that text since, parsed on their own.
 * An appended field wins over the same field of the base, as the later of two repeated fields
 * does in JSON, so the two read as the whole text would.
 */
export interface Stored {
  /** The text as loaded: its length in bytes is what the next append expects. */
  readonly text: string
  readonly base: Parsed
  readonly appended: Fields | null
  /** Counted when first needed (-1 until then). */
  bytes: number
  dataBytes: number
  /**
   * The entry of recent.ts whose known text this text is exactly (null: none): an append that
   * lands right behind this text extends that entry.
   */
  readonly known: object | null
  /** What every read of this text checks, taken from its fields once (null until a read needs it; see Store.metaOf). */
  meta: StoredMeta | null
}

/** A stored session's metadata as reads use it. */
export interface StoredMeta {
  /** The absolute deadline, ms since the epoch (NaN when the field is missing or not a number). */
  readonly deadline: number
  /** The user id the session is indexed under. */
  readonly user: string | undefined
  /** Its own cookie attributes, and the idle time they give it. */
  readonly own: Own
  readonly idle: number
}

/** A stored session with the text it was read from, or null when the text is not a session or record. */
export function storedOf (text: string | null): Stored | null {
  const fields = parseStored(text)
  return fields === null ? null : { text: text as string, base: { fields, dataBytes: -1 }, appended: null, bytes: -1, dataBytes: -1, known: null, meta: null }
}

/** `kept` (a text parsed whole) with the `appended` fields after it: `text` is its text followed by theirs. */
export function appendedTo (kept: Stored, appended: Fields | null, text: string, known: object | null): Stored {
  return { text, base: kept.base, appended, bytes: -1, dataBytes: -1, known, meta: null }
}

/** The stored value of one field (a removed key's is null; a field never written, undefined). */
export function fieldOf (stored: Stored, field: string): unknown {
  const { appended } = stored
  return appended !== null && Object.hasOwn(appended, field) ? appended[field] : stored.base.fields[field]
}

/** Every field once, with the value that counts. */
export function * fieldsOf (stored: Stored): Generator<[string, unknown]> {
  const { appended } = stored
  for (const [field, value] of Object.entries(stored.base.fields)) if (appended === null || !Object.hasOwn(appended, field)) yield [field, value]
  if (appended !== null) yield * Object.entries(appended)
}

/** The bytes a data field and its value take, 0 for a removed one (or a field that is not data). */
function dataField (field: string, value: unknown): number {
  return typeof value === 'string' && field.startsWith(DATA) ? Buffer.byteLength(field) + Buffer.byteLength(value) : 0
}

/** Bytes the data fields take (`d:<key>` and value): the base's counted once, what was appended on top. */
export function dataBytesOf (stored: Stored): number {
  const { base, appended } = stored
  if (base.dataBytes < 0) {
    let n = 0
    for (const field in base.fields) n += dataField(field, base.fields[field])
    base.dataBytes = n
  }
  let n = base.dataBytes
  if (appended !== null) for (const field in appended) n += dataField(field, appended[field]) - dataField(field, base.fields[field])
  return n
}

const PROTO_FIELD = DATA + '__proto__'

const EMPTY: Stored = { text: '', base: { fields: Object.freeze({}), dataBytes: 0 }, appended: null, bytes: 0, dataBytes: 0, known: null, meta: null }

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

  /** The stored session as loaded. */
  get loaded (): Stored {
    return this.#stored
  }

  /** The fields as loaded, each once. */
  fields (): Iterable<[string, unknown]> {
    return fieldsOf(this.#stored)
  }

  /** The stored absolute deadline (ms since the epoch); NaN for values that were never loaded. */
  get deadline (): number {
    return Number(fieldOf(this.#stored, META_DEADLINE))
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
    if (stored.dataBytes < 0) stored.dataBytes = dataBytesOf(stored)
    return stored.dataBytes
  }

  get (key: string): string | undefined {
    if (this.#map !== null) return this.#map.get(key)
    if (this.#written?.has(key) === true) return this.#written.get(key)
    // Every name looked up starts with `d:`, so none can reach an Object.prototype member.
    const value = fieldOf(this.#stored, DATA + key)
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
      for (const [field, value] of fieldsOf(this.#stored)) {
        // A `d:__proto__` field only a forger can have written (set() refuses the key): dropped.
        if (typeof value === 'string' && field.startsWith(DATA) && field !== PROTO_FIELD) map.set(field.slice(DATA.length), value)
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
