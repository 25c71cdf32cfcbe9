/**
 * A Map for what is in flight (one entry per Redis read or fill under way), which gets an entry and
 * loses it on nearly every request. It is renewed, its entries moved to a fresh Map, every
 * RENEW_AFTER deletions, so that the Map in use is nearly always young.
 *
 * Why: a Map's deletions leave holes that V8 reclaims by rehashing it into a new table, and V8
 * makes that table in the old generation when the Map's table already is there, as it is after any
 * full GC. The table replaced is kept linked to its successor, with its entries: dead but not yet
 * collected, it kept every promise in flight since, and all they reached, alive through each young
 * collection, which copied them to the old generation. A young Map's replaced tables are young
 * and die with the next young collection.
 */
export class InFlightMap<V> {
  private map = new Map<string, V>()
  private deletions = 0

  get (key: string): V | undefined {
    return this.map.get(key)
  }

  set (key: string, value: V): void {
    this.map.set(key, value)
  }

  delete (key: string): void {
    if (!this.map.delete(key) || ++this.deletions < RENEW_AFTER) return
    this.deletions = 0
    this.map = new Map(this.map)
  }

  values (): IterableIterator<V> {
    return this.map.values()
  }

  get size (): number {
    return this.map.size
  }
}

/**
 * Deletions between renewals: a Map renewed this often has seen a few hundred requests at most,
 * well within one young generation of their garbage, so it is seldom old enough to be promoted.
 */
export const RENEW_AFTER = 256
