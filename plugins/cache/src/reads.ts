import { InFlightMap } from './in-flight-map.js'

/** A Redis read in flight; `stale` once an invalidation overtook it. */
export interface Read { stale: boolean }

/**
 * Redis reads in flight per key. An invalidation that arrives while a read is on its way marks it,
 * so the value it brings back (possibly from before the invalidation) never refills L1.
 */
export class ReadsInFlight {
  private readonly byKey = new InFlightMap<Set<Read>>()

  start (key: string): Read {
    const read = { stale: false }
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

  /** Marks the reads of `key`, or of every key (tags, clear, resync may concern any). */
  overtake (key?: string): void {
    const sets = key === undefined ? [...this.byKey.values()] : [this.byKey.get(key) ?? new Set<Read>()]
    for (const reads of sets) for (const read of reads) read.stale = true
  }
}
