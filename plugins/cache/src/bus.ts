import type { FastifyBaseLogger } from 'fastify'
import { safeJsonParse, Subscription, type RedisClient } from '@scaleout/core'
import { checkKey } from './options.js'
import { GENERATION } from './store.js'

/** An invalidation: keys written or deleted, tags invalidated, or a new namespace generation. */
export interface Message {
  /** The sending cache instance: it applied the change already. */
  i: string
  k?: string[]
  t?: string[]
  /** A generation Redis gave the sender; only a hint to read Redis' own (see SharedCache.receive). */
  g?: string
}

export interface BusHandlers {
  message: (message: Message) => void
  /** The subscription is lost (closed, or silent while it looked open): invalidations may be missed. */
  down: () => void
  /** Subscribed; `first` is false when it comes back after a loss (whatever was cached may be stale). */
  up: (first: boolean) => void
}

export interface BusSettings {
  channel: string
  timeoutMs: number
  heartbeatMs: number
  heartbeatMisses: number
}

// What we send is never larger: one key per write, the tags of one call. A forged message with
// thousands of keys would make every instance walk them.
const MAX_ITEMS = 1000

function strings (value: unknown): boolean {
  if (value === undefined) return true
  if (!Array.isArray(value) || value.length > MAX_ITEMS) return false
  for (const v of value) {
    try {
      checkKey('key', v)
    } catch {
      return false
    }
  }
  return true
}

/** Accepts only the messages this plugin sends; anything else on the channel is ignored. */
export function parseMessage (text: string): Message | undefined {
  let message: unknown
  try {
    message = safeJsonParse(text)
  } catch {
    return undefined
  }
  if (message === null || typeof message !== 'object') return undefined
  const m = message as Record<string, unknown>
  if (typeof m.i !== 'string' || !strings(m.k) || !strings(m.t) || (m.g !== undefined && (typeof m.g !== 'string' || !GENERATION.test(m.g)))) return undefined
  return m as unknown as Message
}

/** The text of an invalidation sent by instance `i`. */
export function encodeMessage (message: Message): string {
  return JSON.stringify(message)
}

/**
 * The invalidation channel (plain PUBLISH/SUBSCRIBE, which a Cluster forwards to every node), on
 * the core's resilient subscription: its heartbeat turns a link that looks open but delivers
 * nothing into a loss. `connected` is true only while subscribed; the cache bypasses its L1
 * whenever it is false.
 */
export class Bus {
  private readonly subscription: Subscription

  constructor (subscriber: RedisClient, publisher: RedisClient, s: BusSettings, handlers: BusHandlers, log: FastifyBaseLogger) {
    this.subscription = new Subscription({
      subscriber,
      publisher,
      channel: s.channel,
      timeoutMs: s.timeoutMs,
      heartbeatMs: s.heartbeatMs,
      misses: s.heartbeatMisses,
      name: '@scaleout/cache',
      log: log.child({ plugin: '@scaleout/cache' }),
      onMessage: (text) => {
        const message = parseMessage(text)
        if (message === undefined) {
          log.warn({ plugin: '@scaleout/cache', channel: s.channel }, '@scaleout/cache: ignored a message that is not an invalidation')
          return
        }
        handlers.message(message)
      },
      onUp: handlers.up,
      onLoss: (reason) => {
        if (reason === 'silent') log.warn({ plugin: '@scaleout/cache' }, '@scaleout/cache: invalidation link went silent; L1 flushed and bypassed until resubscribed')
        handlers.down()
      }
    })
  }

  async start (readyMs: number): Promise<void> {
    await this.subscription.start(readyMs)
  }

  stop (): void {
    this.subscription.stop()
  }
}
