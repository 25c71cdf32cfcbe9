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

/**
 * Channel -> local listeners. Reference counting lives here: `add` says when a channel gains its
 * first listener (subscribe in Redis) and `remove` when it loses its last (unsubscribe).
 */
export class Hub {
  /** Each channel's listeners, with the sequence number of their joining (see deliver). */
  private readonly channels = new Map<string, Map<Listener, number>>()
  private count = 0
  private joins = 0

  /** True when `channel` had no listener before. */
  add (channel: string, listener: Listener): boolean {
    let set = this.channels.get(channel)
    const first = set === undefined
    if (set === undefined) {
      set = new Map()
      this.channels.set(channel, set)
    }
    if (!set.has(listener)) {
      set.set(listener, ++this.joins)
      this.count++
    }
    return first
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

  /** Delivers to every listener of the message's channel; returns how many it reached. */
  deliver (delivery: Delivery): number {
    const set = this.channels.get(delivery.meta.channel)
    if (set === undefined) return 0
    let reached = 0
    // No copy of the listeners: copying 1,000 sockets per message is not free. Deleting during the
    // iteration is safe (a dropped slow socket, a handler that unsubscribes). A listener that joins
    // meanwhile (a handler that subscribes again as it runs) is visited too, so it is skipped by its
    // join number: it joined after this message arrived, and a handler that re-subscribes itself
    // would otherwise run for ever.
    const before = this.joins
    for (const [listener, joined] of set) if (joined <= before && listener.deliver(delivery)) reached++
    return reached
  }

  get listeners (): number {
    return this.count
  }
}
