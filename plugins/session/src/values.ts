import type { SizedCodec } from '@scaleout/core'
import { encodeChanges, type Encoded } from './changes.js'
import { DATA } from './fields.js'
import { StoredValues } from './stored.js'
import { compacted, needsCompaction, type WritePlan } from './log.js'

/**
 * A session's values in one request: encoded as loaded (or last saved), decoded lazily on `get`,
 * and what the handler changed. Only changed keys are written back, so parallel requests that
 * change different keys never overwrite each other.
 */
export class SessionValues {
  readonly #codec: SizedCodec
  /** Encoded values as loaded or last saved. */
  #raw = new StoredValues()
  /** Decoded values, and what the handler set; a deleted key maps to undefined. */
  readonly #values = new Map<string, unknown>()
  /** Changed keys, each with when it was last set: a save clears only what it wrote. */
  readonly #changed = new Map<string, number>()
  #generation = 0
  /** The stored text's length in bytes as this request last wrote it (undefined: as loaded, counted when needed); null when it does not know. */
  #logBytes: number | null | undefined = null
  /** The data's size in bytes after this request's last append (undefined: as loaded). */
  #dataBytes: number | undefined
  /** The data's size the append being saved leaves. */
  #appending: number | undefined

  constructor (codec: SizedCodec) {
    this.#codec = codec
  }

  /** Takes the stored values; changes made before (by a hook that ran before the load) stay on top. */
  loaded (raw: StoredValues): void {
    this.#raw = raw
    this.#logBytes = undefined
    this.#dataBytes = undefined
  }

  get (key: string): unknown {
    if (this.#values.has(key)) return this.#values.get(key)
    const raw = this.#raw.get(key)
    if (raw === undefined) return undefined
    const value = this.#codec.decode(raw)
    this.#values.set(key, value)
    return value
  }

  set (key: string, value: unknown): void {
    this.#values.set(key, value)
    this.#changed.set(key, ++this.#generation)
  }

  /** A copy of every value. */
  data (): Record<string, unknown> {
    const codec = this.#codec
    const copy: Record<string, unknown> = {}
    const raw = this.#raw.map()
    // What is stored, and what changed since: a key removed by a save of this request is in neither.
    for (const key of new Set([...raw.keys(), ...this.#changed.keys()])) {
      const value = this.#changed.has(key) ? this.#values.get(key) : undefined
      const fresh = this.#changed.has(key)
        ? (value === undefined ? undefined : codec.decode(codec.encode(value)))
        : codec.decode(raw.get(key) as string)
      // defineProperty: a key named __proto__ stays an ordinary property.
      if (fresh !== undefined) Object.defineProperty(copy, key, { value: fresh, enumerable: true, writable: true, configurable: true })
    }
    return copy
  }

  /** How many keys were set or deleted (whether or not to a different value). */
  get changes (): number {
    return this.#changed.size
  }

  isChanged (key: string): boolean {
    return this.#changed.has(key)
  }

  /** Whether any change differs from what is stored. */
  modified (): boolean {
    for (const key of this.#changed.keys()) {
      const value = this.#values.get(key)
      const stored = this.#raw.get(key)
      if (value === undefined ? stored !== undefined : stored === undefined || this.#codec.encode(value) !== stored) return true
    }
    return false
  }

  /** Whether a value was set (a new session with none is never saved). */
  hasData (): boolean {
    for (const key of this.#changed.keys()) if (this.#values.get(key) !== undefined) return true
    return false
  }

  /**
   * What a save writes. Changes that leave a value as stored are dropped here, so they cost no
   * write; a session being created has no stored values (regenerate() keeps values by setting them).
   */
  encode (maxBytes: number, creating: boolean): Omit<Encoded, 'unchanged'> & { generations: ReadonlyMap<string, number> } {
    // A literal, not a spread of encodeChanges()'s result: measured on the modify benchmark, the
    // spread's copies outlived young-generation GCs (15 MB in 6 s went to the old generation).
    const { sets, deletes, encoded, unchanged } = encodeChanges(this.#codec, maxBytes, this.#changed.keys(), this.#values, creating ? null : this.#raw)
    for (const key of unchanged) this.#changed.delete(key)
    return { sets, deletes, encoded, generations: new Map(this.#changed) }
  }

  /**
   * How a write of `sets` and `deletes` goes without a merge (see log.ts): the length the stored
   * text had when this request read (or last wrote) it, and the text compacted when it is due for
   * that. Null when the write must merge: the length is unknown, the text was stored closed (by an
   * earlier version), the session is past its deadline, the data would pass `maxBytes` while
   * growing (the merging write then decides, exactly), or the text is due for compaction after
   * this request wrote to it already (what it wrote is not all in the fields it read).
   */
  writePlan (sets: readonly string[], deletes: readonly string[], maxBytes: number): WritePlan | null {
    const bytes = this.#logBytes === undefined ? this.#raw.logBytes : this.#logBytes
    if (bytes === null || this.#raw.closed || !(this.#raw.deadline > Date.now())) return null
    const before = this.#dataBytes ?? this.#raw.dataBytes
    let after = before
    const drop = (field: string): void => {
      const old = this.#raw.get(field.slice(DATA.length))
      if (old !== undefined) after -= Buffer.byteLength(field) + Buffer.byteLength(old)
    }
    // Metadata fields (the user id) are not data: maxBytes bounds the data alone.
    for (let i = 0; i < sets.length; i += 2) {
      const field = sets[i] as string
      if (!field.startsWith(DATA)) continue
      drop(field)
      after += Buffer.byteLength(field) + Buffer.byteLength(sets[i + 1] as string)
    }
    for (const field of deletes) if (field.startsWith(DATA)) drop(field)
    if (after > maxBytes && after > before) return null
    let text: string | null = null
    if (needsCompaction(bytes, after)) {
      if (this.#logBytes !== undefined) return null
      text = compacted(this.#raw.fields(), sets, deletes, bytes)
    }
    this.#appending = after
    return { length: bytes, compacted: text, read: this.#raw.loaded }
  }

  /**
   * What the data fields among `sets` and `deletes` held before this write, as a JSON object (null:
   * absent): what a write that raced another past maxBytes puts back (CHECK in scripts.ts).
   */
  before (sets: readonly string[], deletes: readonly string[]): string {
    const previous: Record<string, string | null> = {}
    const add = (field: string): void => {
      // defineProperty: a key named __proto__ stays an ordinary property.
      if (field.startsWith(DATA)) Object.defineProperty(previous, field, { value: this.#raw.get(field.slice(DATA.length)) ?? null, enumerable: true })
    }
    for (let i = 0; i < sets.length; i += 2) add(sets[i] as string)
    for (const field of deletes) add(field)
    return JSON.stringify(previous)
  }

  /**
   * The save of `encoded` succeeded: it is now what is stored, `logBytes` long if known. A key set
   * again while the save ran (a later generation) stays changed, for the next save.
   */
  saved (encoded: ReadonlyMap<string, string>, generations: ReadonlyMap<string, number>, logBytes: number | null): void {
    this.#logBytes = logBytes
    // An append that needed no merge leaves exactly the data this request computed.
    this.#dataBytes = logBytes === null ? undefined : this.#appending
    for (const [key, generation] of generations) {
      this.#raw.put(key, encoded.get(key))
      if (this.#changed.get(key) === generation) this.#changed.delete(key)
    }
  }
}
