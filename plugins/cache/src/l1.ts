/** One cached value with the expiry times of its L2 entry (wall clock, ms). */
export interface Entry {
  /** The decoded value; undefined while `encoded` holds it. */
  value: unknown
  /**
   * A value this instance wrote, kept as it went to Redis until its first L1 hit decodes it (see
   * SharedCache.fromL1), then undefined: L1 serves what a Redis read would, never the caller's object.
   */
  encoded: string | Buffer | undefined
  /** Fresh until. */
  expiresAt: number
  /** Servable as stale (by `wrap`) until; equal to `expiresAt` without a stale window. */
  staleUntil: number
  tags: string[]
  /** What counts against `l1.maxBytes`: see entryBytes. */
  bytes: number
}

/**
 * The weight of an entry in L1: its encoded value's bytes and its tags' (UTF-8), the same on the
 * instance that wrote it as on one that read it from Redis. Tags count: an entry may hold 1000 of
 * 1024 characters each, far more than its value. A decoded value's heap size is not measured.
 */
export function entryBytes (valueBytes: number, tags: string[]): number {
  let bytes = valueBytes
  for (const tag of tags) bytes += Buffer.byteLength(tag)
  return bytes
}

/**
 * The in-process tier: a Map kept in least-recently-used order, bounded by entries and bytes.
 * No timers at all: expiry is checked on read, so a TTL of weeks can never overflow a timer, and
 * an entry never outlives the L2 entry it copies because it carries the same expiry times.
 */
export class L1 {
  private readonly entries = new Map<string, Entry>()
  private readonly byTag = new Map<string, Set<string>>()
  /** The most recently used key: a hot key's hits skip the reordering. */
  private last: string | undefined
  bytes = 0
  evictions = 0

  constructor (private readonly maxEntries: number, private readonly maxBytes: number, private readonly maxTtlMs: number) {}

  get size (): number {
    return this.entries.size
  }

  /** The entry while it may still be served (fresh or stale), else undefined. */
  get (key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    if (entry.staleUntil <= now) {
      this.delete(key)
      return undefined
    }
    if (key !== this.last) {
      this.entries.delete(key)
      this.entries.set(key, entry)
      this.last = key
    }
    return entry
  }

  set (key: string, entry: Entry, now: number): void {
    this.delete(key)
    if (entry.bytes > this.maxBytes) return
    const cap = now + this.maxTtlMs
    const kept = entry.staleUntil > cap ? { ...entry, expiresAt: Math.min(entry.expiresAt, cap), staleUntil: cap } : entry
    this.entries.set(key, kept)
    this.last = key
    this.bytes += kept.bytes
    for (const tag of kept.tags) {
      let keys = this.byTag.get(tag)
      if (keys === undefined) this.byTag.set(tag, keys = new Set())
      keys.add(key)
    }
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      this.delete(this.entries.keys().next().value as string)
      this.evictions++
    }
  }

  delete (key: string): void {
    const entry = this.entries.get(key)
    if (entry === undefined) return
    this.entries.delete(key)
    this.bytes -= entry.bytes
    for (const tag of entry.tags) {
      const keys = this.byTag.get(tag) as Set<string>
      keys.delete(key)
      if (keys.size === 0) this.byTag.delete(tag)
    }
  }

  deleteTags (tags: string[]): void {
    for (const tag of tags) {
      const keys = this.byTag.get(tag)
      if (keys !== undefined) for (const key of [...keys]) this.delete(key)
    }
  }

  clear (): void {
    this.entries.clear()
    this.byTag.clear()
    this.bytes = 0
  }
}
