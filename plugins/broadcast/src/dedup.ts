/**
 * The ids of the last `size` messages, in a ring: memory stays bounded however long the process
 * runs, and a duplicate older than the window is let through (delivery is at most once per window).
 */
export class DedupWindow {
  private readonly ring: Array<string | undefined>
  private readonly seen = new Set<string>()
  private next = 0

  constructor (size: number) {
    this.ring = new Array<string | undefined>(size)
  }

  /** Records `id`; false when it was already in the window. */
  add (id: string): boolean {
    if (this.seen.has(id)) return false
    const evicted = this.ring[this.next]
    if (evicted !== undefined) this.seen.delete(evicted)
    this.ring[this.next] = id
    this.next = (this.next + 1) % this.ring.length
    this.seen.add(id)
    return true
  }
}
