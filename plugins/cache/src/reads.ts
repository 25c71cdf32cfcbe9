import { InFlightMap } from './in-flight-map.js'

/**
 * A Redis read or write in flight: `stale` once an invalidation overtook it, and `replaced` as well
 * when that invalidation named its key (a `del` or a write of that very key, not tags or a clear).
 */
export interface Read { stale: boolean, replaced: boolean }

/**
 * Redis reads in flight per key, and writes with the computing of their value. An invalidation that
 * arrives while one is on its way marks it, so the value it brings back (possibly from before the
 * invalidation) never refills L1: a read's from Redis, a write's that a del() or another
 * instance's change has replaced in Redis since, or a wrap() value computed before its tags were
 * invalidated.
 */
export class ReadsInFlight {
  private readonly byKey = new InFlightMap<Set<Read>>()

  start (key: string): Read {
    const read = { stale: false, replaced: false }
    let reads = this.byKey.get(key)
    if (reads === undefined) this.byKey.set(key, reads = new Set())
    reads.add(read)
    return read
  }

  end (key: string, read: Read): void {
    const reads = this.byKey.get(key) as Set<Read>
    reads.delete(read)
    if (reads.size === 0) this.byKey.delete(key)
  }

  /** Marks every read (tags, clear, resync may concern any key) as stale. */
  overtakeAll (): void {
    for (const reads of this.byKey.values()) for (const read of reads) read.stale = true
  }

  /** Marks the reads of `key` but `except` as stale, and as `replaced` too if so. */
  overtake (key: string, except: Read | undefined, replaced: boolean): void {
    const reads = this.byKey.get(key)
    if (reads === undefined) return
    for (const read of reads) {
      if (read === except) continue
      read.stale = true
      if (replaced) read.replaced = true
    }
  }
}
