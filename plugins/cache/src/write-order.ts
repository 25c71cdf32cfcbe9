import { InFlightMap } from './in-flight-map.js'

/** One key's writes under way on this instance: how many, and the latest turn sent to Redis. */
interface Order { writing: number, sent: number }

/**
 * The order of this instance's writes (`set`, a `wrap` or route response being stored, `del`) of one
 * key, as they were called. A write can be held up before it is sent: a tagged `set` takes its tag
 * tokens first (a round trip on another connection), any write may wait for the namespace
 * generation. A later `set` or `del` of the key may then reach Redis before it, and the earlier one,
 * sent after, would leave Redis holding what the caller replaced or deleted since. So each write
 * takes a turn when it is called, and is sent only if no later turn was sent first; else it is
 * skipped, as if it had landed just before the later one (which overwrites or deletes it anyway).
 * Writes are sent on one connection, so those that are sent land in the order of their turns.
 */
export class WriteOrder {
  private turns = 0
  private readonly keys = new InFlightMap<Order>()

  /** A write of `key` is called: its turn. end() must follow. */
  begin (key: string): number {
    let order = this.keys.get(key)
    if (order === undefined) this.keys.set(key, order = { writing: 0, sent: 0 })
    order.writing++
    return ++this.turns
  }

  /**
   * True, and recorded, if the write of `turn` may be sent now: no later write of `key` was sent.
   * Called in the same synchronous step as the command is sent, so nothing can slip in between.
   */
  send (key: string, turn: number): boolean {
    const order = this.keys.get(key) as Order
    if (order.sent > turn) return false
    order.sent = turn
    return true
  }

  end (key: string): void {
    const order = this.keys.get(key) as Order
    if (--order.writing === 0) this.keys.delete(key)
  }
}
