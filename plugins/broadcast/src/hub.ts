import type { FastifyBaseLogger } from 'fastify'
import type { Delivery } from './envelope.js'
import { PLUGIN } from './options.js'
import type { MessageHandler } from './types.js'

/** A local subscriber: a handler or a socket. Returns true when the message reached it. */
export interface Listener {
  deliver: (delivery: Delivery) => boolean
}

/** Wraps a handler so that its errors (thrown or rejected) are logged, never propagated. */
export function handlerListener (handler: MessageHandler, log: FastifyBaseLogger): Listener {
  const fail = (err: unknown, channel: string): void => log.error({ err, plugin: PLUGIN, channel }, `${PLUGIN}: a message handler failed`)
  return {
    deliver (delivery) {
      try {
        const result = handler(delivery.message(), delivery.meta)
        if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
          ;(result as Promise<void>).then(undefined, (err: unknown) => fail(err, delivery.meta.channel))
        }
      } catch (err) {
        fail(err, delivery.meta.channel)
      }
      return true
    }
  }
}

/** How many listeners a message reached: final once the delivery that was running when it was published ends. */
export interface Receipt {
  reached: number
}

interface Pending extends Receipt {
  delivery: Delivery
  /** The join number when it was published: a listener that joined later does not get it. */
  joins: number
}

/**
 * Channel -> local listeners. Reference counting lives here: `add` says when a channel gains its
 * first listener (subscribe in Redis) and `remove` when it loses its last (unsubscribe).
 */
export class Hub {
  private readonly channels = new Map<string, Set<Listener>>()
  private count = 0
  /**
   * Messages to deliver, in the order they were published. A handler may publish as it runs: its
   * message waits here until the one being delivered has reached every listener, so that each
   * listener gets the cause before the reaction, as the other instances do.
   */
  private readonly queue: Pending[] = []
  private delivering = false
  private joins = 0
  /**
   * Listeners that joined a channel while a delivery ran, by the channel's set, with the number of
   * their joining (see run). Emptied once no delivery runs: the common path stays a plain Set
   * iteration.
   */
  private readonly late = new Map<Set<Listener>, Map<Listener, number>>()

  /** True when `channel` had no listener before. */
  add (channel: string, listener: Listener): boolean {
    let set = this.channels.get(channel)
    const first = set === undefined
    if (set === undefined) {
      set = new Set()
      this.channels.set(channel, set)
    }
    if (!set.has(listener)) {
      set.add(listener)
      this.count++
      if (this.delivering) this.joinedLate(set, listener)
    }
    return first
  }

  private joinedLate (set: Set<Listener>, listener: Listener): void {
    let joined = this.late.get(set)
    if (joined === undefined) this.late.set(set, joined = new Map())
    joined.set(listener, ++this.joins)
  }

  /** True when `channel` has no listener left. */
  remove (channel: string, listener: Listener): boolean {
    const set = this.channels.get(channel)
    if (set === undefined || !set.delete(listener)) return false
    this.count--
    if (set.size > 0) return false
    this.channels.delete(channel)
    return true
  }

  has (channel: string): boolean {
    return this.channels.has(channel)
  }

  /**
   * Delivers to every listener of the message's channel, at once unless a delivery is running (a
   * listener publishing): then right after it, and after the messages published before it. Either
   * way before the outermost call returns, when the receipt holds how many listeners it reached.
   */
  deliver (delivery: Delivery): Receipt {
    const pending: Pending = { delivery, joins: this.joins, reached: 0 }
    this.queue.push(pending)
    if (!this.delivering) this.drain()
    return pending
  }

  private drain (): void {
    this.delivering = true
    try {
      for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) this.run(next)
    } finally {
      // A listener threw (a socket of the caller's whose send failed): the error goes to the caller
      // as before, but the messages queued behind are still delivered, and the hub is not left
      // queueing for ever.
      if (this.queue.length > 0) {
        this.drain()
      } else {
        this.delivering = false
        this.late.clear()
      }
    }
  }

  private run (pending: Pending): void {
    const set = this.channels.get(pending.delivery.meta.channel)
    if (set === undefined) return
    // No copy of the set: copying 1,000 sockets per message is not free. Deleting during a Set
    // iteration is safe (a dropped slow socket, a handler that unsubscribes). A listener that joins
    // meanwhile (a handler that subscribes again as it runs) is visited too, so it is skipped by its
    // join number: it joined after this message was published, and a handler that re-subscribes
    // itself would otherwise run for ever.
    for (const listener of set) {
      if (this.late.size > 0 && (this.late.get(set)?.get(listener) ?? 0) > pending.joins) continue
      if (listener.deliver(pending.delivery)) pending.reached++
    }
  }

  get listeners (): number {
    return this.count
  }
}
