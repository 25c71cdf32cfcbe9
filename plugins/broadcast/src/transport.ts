import type { FastifyBaseLogger } from 'fastify'
import { bounded, type Bound, type RedisClient } from '@scaleout/core'
import { PLUGIN } from './options.js'

// Cluster SSUBSCRIBE takes channels of one slot per command, so sharded (re)subscriptions go one
// channel per command; classic ones go in batches.
const BATCH = 500
// A SUBSCRIBE that failed while connected (timeout, CLUSTERDOWN while a master restarts) is sent
// again this much later, until it succeeds or the channel is no longer wanted.
const RETRY_MS = 1000

/**
 * The two connections: PUBLISH on the publisher, SUBSCRIBE on the subscriber, for the channels the
 * hub says are wanted. The subscriber has no offline queue, so a subscribe while it is down is only
 * recorded; every 'ready' (first connect, reconnect, forced reconnect) subscribes all wanted
 * channels again and drops the ones ioredis re-subscribed that nobody wants any more. On a Cluster
 * with sharded subscribers, 'subscribersReady' (a shard subscriber replaced after a master restart)
 * does the same: ioredis re-subscribes those channels once and gives up silently if that fails.
 */
export class Transport {
  readonly sharded: boolean
  private readonly wanted = new Set<string>()
  /** Channels Redis confirmed and we have not unsubscribed: what ioredis re-subscribes on reconnect. */
  private readonly confirmed = new Set<string>()
  private readonly failed = new Set<string>()
  private readonly publisher: RedisClient
  private readonly subscriber: RedisClient
  private readonly timeoutMs: number
  /** Bounds a publish by the publish timeout (see the core's boundFor). */
  private readonly bound: Bound
  private readonly log: FastifyBaseLogger
  private readonly onMessage: (channel: string, text: string) => void
  private readonly onReady = (): void => this.resync()
  private retryTimer: NodeJS.Timeout | undefined

  constructor (publisher: RedisClient, subscriber: RedisClient, sharded: boolean, timeoutMs: number, bound: Bound, log: FastifyBaseLogger, onMessage: (channel: string, text: string) => void) {
    this.publisher = publisher
    this.subscriber = subscriber
    this.sharded = sharded
    this.timeoutMs = timeoutMs
    this.bound = bound
    this.log = log
    this.onMessage = onMessage
    subscriber.on(sharded ? 'smessage' : 'message', onMessage)
    subscriber.on('ready', this.onReady)
    subscriber.on('subscribersReady', this.onReady)
  }

  get ready (): boolean {
    return this.subscriber.status === 'ready'
  }

  get channels (): number {
    return this.wanted.size
  }

  add (channel: string): void {
    this.wanted.add(channel)
    if (this.ready) this.subscribe([channel])
  }

  remove (channel: string): void {
    this.wanted.delete(channel)
    this.failed.delete(channel)
    if (this.ready) this.unsubscribe([channel])
  }

  /** Subscribes again the channels whose SUBSCRIBE failed (a reconnect's resync covers them too). */
  private retry (): void {
    this.retryTimer = undefined
    if (this.failed.size === 0 || !this.ready) return
    const channels = [...this.failed]
    this.failed.clear()
    this.subscribe(channels)
  }

  private resync (): void {
    this.failed.clear()
    const stale = [...this.confirmed].filter((c) => !this.wanted.has(c))
    if (stale.length > 0) this.unsubscribe(stale)
    if (this.wanted.size > 0) this.subscribe([...this.wanted])
  }

  private batches (channels: string[]): string[][] {
    const size = this.sharded ? 1 : BATCH
    const out: string[][] = []
    for (let i = 0; i < channels.length; i += size) out.push(channels.slice(i, i + size))
    return out
  }

  private subscribe (channels: string[]): void {
    for (const batch of this.batches(channels)) {
      const command = this.sharded ? this.subscriber.ssubscribe(...batch) : this.subscriber.subscribe(...batch)
      bounded(command, this.timeoutMs).then(() => {
        for (const c of batch) this.confirmed.add(c)
      }, (err: unknown) => {
        for (const c of batch) if (this.wanted.has(c)) this.failed.add(c)
        this.log.warn({ err, plugin: PLUGIN, channels: batch.length }, `${PLUGIN}: SUBSCRIBE failed; retrying in ${RETRY_MS}ms`)
        this.retryTimer ??= setTimeout(() => this.retry(), RETRY_MS).unref()
      })
    }
  }

  private unsubscribe (channels: string[]): void {
    for (const batch of this.batches(channels)) {
      const command = this.sharded ? this.subscriber.sunsubscribe(...batch) : this.subscriber.unsubscribe(...batch)
      // A failure leaves the channel confirmed: the next reconnect unsubscribes it as stale.
      bounded(command, this.timeoutMs).then(() => {
        for (const c of batch) if (!this.wanted.has(c)) this.confirmed.delete(c)
      }, () => undefined)
    }
  }

  /** Resolves with the number of subscribers Redis counted; rejects with a coded Redis error. */
  async publish (channel: string, text: string): Promise<number> {
    const reply = this.sharded ? this.publisher.spublish(channel, text) : this.publisher.publish(channel, text)
    return Number(await this.bound(reply))
  }

  /** Drops the subscriber's socket; ioredis reconnects and 'ready' re-subscribes everything. */
  reconnect (): void {
    this.subscriber.disconnect(true)
  }

  /** Unsubscribes everything (bounded) and stops listening; the connections are quit by their owner. */
  async close (): Promise<void> {
    this.subscriber.off(this.sharded ? 'smessage' : 'message', this.onMessage)
    this.subscriber.off('ready', this.onReady)
    this.subscriber.off('subscribersReady', this.onReady)
    clearTimeout(this.retryTimer)
    const channels = [...this.wanted]
    this.wanted.clear()
    this.failed.clear()
    if (!this.ready || channels.length === 0) return
    const commands = this.batches(channels).map(async (batch) => await (this.sharded ? this.subscriber.sunsubscribe(...batch) : this.subscriber.unsubscribe(...batch)))
    await bounded(Promise.all(commands), this.timeoutMs).catch(() => undefined)
  }
}
