import { randomBytes } from 'node:crypto'
import { bounded } from './call.js'
import type { RedisClient } from './redis-types.js'
import { waitForReady } from './redis.js'

/** Messages the heartbeat publishes start with this: a payload of ours never does (NUL first). */
export const HEARTBEAT_PREFIX = '\u0000hb:'

/** Why a subscription stopped counting as live. */
export type LossReason = 'closed' | 'silent'

export interface SubscriptionLog {
  warn: (obj: object, msg: string) => void
}

export interface SubscriptionOptions {
  /** The connection SUBSCRIBE takes over: a duplicate used for nothing else. */
  subscriber: RedisClient
  /** Any other connection to the same Redis: sends the heartbeat's pings. */
  publisher: RedisClient
  channel: string
  /** Bound of each SUBSCRIBE and each ping, in ms. */
  timeoutMs: number
  /** Period of the heartbeat in ms; 0 turns it off (then only a closed socket counts as loss). */
  heartbeatMs: number
  /** Intervals in which pings were accepted but nothing came back before the link counts as lost. */
  misses: number
  /** A message on the channel that is not a ping. */
  onMessage: (text: string) => void
  /** Subscribed, first (`first`) or again after a loss: messages may have been missed in between. */
  onUp: (first: boolean) => void
  /** No longer subscribed (socket closed, or silent while it looked open): messages may be missed from now on. */
  onLoss: (reason: LossReason) => void
  log: SubscriptionLog
  /** Prefix of log lines, e.g. the plugin name. */
  name: string
}

/**
 * One pub/sub channel kept subscribed on its own connection. `connected` is true only between a
 * confirmed SUBSCRIBE and the next loss. Every 'ready' of the subscriber (first connect, reconnect)
 * subscribes again. A heartbeat publishes a ping on the channel itself: when `misses` pings that
 * Redis accepted were followed by nothing at all on the channel, the link is half-open (a NAT or
 * conntrack entry dropped, a middlebox holding the socket): it counts as lost and the subscriber
 * is forced to reconnect. Anything heard counts as proof of delivery, a forged message included:
 * it could only arrive over a link that works, so forging cannot keep a dead link looking alive.
 */
export class Subscription {
  private live = false
  private everUp = false
  private stopped = false
  private timer: NodeJS.Timeout | undefined
  /** Date.now() of the last message of any kind heard on the channel. */
  private lastHeard = 0
  /** Send times of the latest pings Redis accepted, at most `misses`, newest last. */
  private accepted: number[] = []
  private seq = 0
  private readonly token = randomBytes(6).toString('base64url')

  constructor (private readonly o: SubscriptionOptions) {}

  /** True while subscribed and not judged lost. */
  get connected (): boolean {
    return this.live
  }

  private readonly onMessage = (channel: string, text: string): void => {
    if (channel !== this.o.channel) return
    this.lastHeard = Date.now()
    if (text.startsWith(HEARTBEAT_PREFIX)) return
    this.o.onMessage(text)
  }

  private readonly onClose = (): void => this.lose('closed')

  private readonly onReady = (): void => {
    // subscribe() never rejects: it logs its own failure.
    this.subscribe()
  }

  /** Waits up to `readyMs` for the first subscription; later (re)connections subscribe on 'ready'. */
  async start (readyMs: number): Promise<void> {
    const s = this.o.subscriber
    s.on('message', this.onMessage)
    s.on('close', this.onClose)
    s.on('ready', this.onReady)
    if (this.o.heartbeatMs > 0) {
      this.timer = setInterval(() => this.beat(), this.o.heartbeatMs)
      this.timer.unref()
    }
    if (await waitForReady(s, readyMs)) await this.subscribe()
  }

  private async subscribe (): Promise<void> {
    try {
      await bounded(this.o.subscriber.subscribe(this.o.channel), this.o.timeoutMs)
    } catch (err) {
      this.o.log.warn({ err, channel: this.o.channel }, `${this.o.name}: could not subscribe to ${this.o.channel}; retried on the next reconnect`)
      return
    }
    if (this.live || this.stopped) return
    this.live = true
    this.lastHeard = Date.now()
    this.accepted = []
    const first = !this.everUp
    this.everUp = true
    this.o.onUp(first)
  }

  private lose (reason: LossReason): void {
    if (!this.live) return
    this.live = false
    this.accepted = []
    this.o.onLoss(reason)
  }

  /** One heartbeat tick: judge the pings sent so far, then send the next one. */
  beat (): void {
    if (!this.live) return
    // Pings whose echo may simply still be on its way (sent before the last thing heard) do not count.
    const unheard = this.accepted.filter((sentAt) => sentAt > this.lastHeard).length
    if (unheard >= this.o.misses) {
      this.o.log.warn({ channel: this.o.channel }, `${this.o.name}: heard nothing on ${this.o.channel} although Redis accepted our pings; forcing the subscriber to reconnect`)
      this.lose('silent')
      this.o.subscriber.disconnect(true)
      return
    }
    const sentAt = Date.now()
    bounded(this.o.publisher.publish(this.o.channel, `${HEARTBEAT_PREFIX}${this.token}:${++this.seq}`), this.o.timeoutMs).then(() => {
      // A ping Redis refused says nothing about the subscriber's link and is not counted. One
      // accepted around a loss is older than the next subscription and never counts against it.
      this.accepted.push(sentAt)
      if (this.accepted.length > this.o.misses) this.accepted.shift()
    }, () => undefined)
  }

  /** Stops listening; the connection is closed by its owner. */
  stop (): void {
    this.stopped = true
    this.live = false
    clearInterval(this.timer)
    const s = this.o.subscriber
    s.off('message', this.onMessage)
    s.off('close', this.onClose)
    s.off('ready', this.onReady)
  }
}
