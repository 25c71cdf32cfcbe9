import type { FastifyBaseLogger } from 'fastify'
import { bounded, safeJsonParse, waitForReady, type RedisClient } from '@scaleout/core'

/** An invalidation: keys written or deleted, tags invalidated, or a new namespace generation. */
export interface Message {
  /** The sending cache instance: it applied the change already. */
  i: string
  k?: string[]
  t?: string[]
  g?: string
}

export interface BusHandlers {
  message: (message: Message) => void
  /** The subscription dropped: invalidations may be missed from now on. */
  down: () => void
  /** Subscribed (again): whatever was cached before may have missed invalidations. */
  up: () => void
}

const strings = (value: unknown): boolean => value === undefined || (Array.isArray(value) && value.every((v) => typeof v === 'string'))

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
  if (typeof m.i !== 'string' || !strings(m.k) || !strings(m.t) || (m.g !== undefined && typeof m.g !== 'string')) return undefined
  return m as unknown as Message
}

/**
 * The invalidation channel (plain PUBLISH/SUBSCRIBE, which a Cluster forwards to every node).
 * `connected` is true only while subscribed; the cache bypasses its L1 whenever it is false.
 */
export class Bus {
  connected = false
  private stopped = false

  constructor (
    private readonly subscriber: RedisClient,
    private readonly channel: string,
    private readonly timeoutMs: number,
    private readonly handlers: BusHandlers,
    private readonly log: FastifyBaseLogger
  ) {}

  // The subscriber is our own connection and subscribes to this one channel only.
  private readonly onMessage = (channel: string, text: string): void => {
    const message = parseMessage(text)
    if (message === undefined) {
      this.log.warn({ plugin: '@scaleout/cache', channel }, '@scaleout/cache: ignored a message that is not an invalidation')
      return
    }
    this.handlers.message(message)
  }

  private readonly onClose = (): void => {
    if (!this.connected) return
    this.connected = false
    this.handlers.down()
  }

  private readonly onReady = (): void => {
    // subscribe() never rejects: it logs its own failure.
    this.subscribe()
  }

  /** Waits up to `readyMs` for the first subscription; later (re)connections subscribe on 'ready'. */
  async start (readyMs: number): Promise<void> {
    this.subscriber.on('message', this.onMessage)
    this.subscriber.on('close', this.onClose)
    this.subscriber.on('ready', this.onReady)
    if (await waitForReady(this.subscriber, readyMs)) await this.subscribe()
  }

  private async subscribe (): Promise<void> {
    try {
      await bounded(this.subscriber.subscribe(this.channel), this.timeoutMs)
    } catch (err) {
      this.log.warn({ err, plugin: '@scaleout/cache' }, '@scaleout/cache: could not subscribe to invalidations; L1 stays off until it can')
      return
    }
    if (this.connected || this.stopped) return
    this.connected = true
    this.handlers.up()
  }

  stop (): void {
    this.stopped = true
    this.connected = false
    this.subscriber.off('message', this.onMessage)
    this.subscriber.off('close', this.onClose)
    this.subscriber.off('ready', this.onReady)
  }
}
