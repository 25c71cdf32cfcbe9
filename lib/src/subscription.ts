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
  /**
   * The connection SUBSCRIBE takes over: a duplicate used for nothing else. For sharded pub/sub on
   * a Cluster, one created with `shardedSubscribers: true` (ioredis only sends SSUBSCRIBE through it).
   */
  subscriber: RedisClient
  /** Any other connection to the same Redis: sends the heartbeat's pings. */
  publisher: RedisClient
  /**
   * The home channel: subscribed for the subscription's whole life, carries the heartbeat's pings,
   * and its SUBSCRIBE being confirmed is what "up" means. More channels come and go with add/remove.
   */
  channel: string
  /** SSUBSCRIBE/SPUBLISH (Redis 7 sharded pub/sub) instead of SUBSCRIBE/PUBLISH. Default false. */
  sharded?: boolean
  /** Bound of each (UN)SUBSCRIBE and each ping, in ms. */
  timeoutMs: number
  /** Period of the heartbeat in ms; 0 turns it off (then only a closed socket counts as loss). */
  heartbeatMs: number
  /** Intervals in which pings were accepted but nothing came back before the link counts as lost. */
  misses: number
  /** A message on one of the channels that is not a ping. */
  onMessage: (text: string, channel: string) => void
  /** Subscribed, first (`first`) or again after a loss: messages may have been missed in between. */
  onUp: (first: boolean) => void
  /** No longer subscribed (socket closed, or silent while it looked open): messages may be missed from now on. */
  onLoss: (reason: LossReason) => void
  log: SubscriptionLog
  /** Prefix of log lines, e.g. the plugin name. */
  name: string
}

// Channels per (UN)SUBSCRIBE when (re)subscribing many. A Cluster's SSUBSCRIBE takes channels of
// one slot per command, so sharded ones go one per command.
const BATCH = 500
// A SUBSCRIBE that failed while connected (a timeout, CLUSTERDOWN while a master restarts) is sent
// again this much later, until it succeeds or the channel is no longer wanted: waiting for the next
// reconnect could mean waiting forever on a link that is fine.
export const SUBSCRIBE_RETRY_MS = 1000

/** What became of a heartbeat ping that counts against the link. */
type PingFate = 'accepted' | 'unanswered' | 'unsent'

/** Whether `client` is on its way to Redis: neither connected nor closed by its owner. */
function reconnecting (client: RedisClient): boolean {
  const status = client.status
  return status !== 'ready' && status !== 'end' && status !== 'disconnecting'
}

/**
 * Pub/sub channels kept subscribed on their own connection. `connected` is true only between a
 * confirmed SUBSCRIBE of the home channel and the next loss. Every 'ready' of the subscriber (first
 * connect, reconnect, a Cluster's shard subscriber replaced: 'subscribersReady') subscribes every
 * wanted channel again and drops those ioredis re-subscribed that are no longer wanted.
 *
 * A heartbeat publishes a ping on the home channel: when `misses` pings that Redis accepted (or
 * never answered, or that could not be sent while the publisher was trying to reach Redis) were
 * followed by nothing at all on it, the link is half-open (a NAT or conntrack entry dropped, a
 * middlebox holding the socket, a partition that froze every link to Redis): it counts as lost and
 * the subscriber is forced to reconnect.
 * Anything heard on the home channel counts as proof of delivery, a forged message included: it
 * could only arrive over a link that works, so forging cannot keep a dead link looking alive. On a
 * Cluster with sharded subscribers the pings prove the home channel's shard link only.
 */
export class Subscription {
  private live = false
  private everUp = false
  private stopped = false
  private timer: NodeJS.Timeout | undefined
  private retryTimer: NodeJS.Timeout | undefined
  /** Date.now() of the last message of any kind heard on the home channel. */
  private lastHeard = 0
  /**
   * The latest pings that count, at most `misses`, newest last: send time, and what became of it
   * (for the log line).
   */
  private accepted: Array<{ at: number, fate: PingFate }> = []
  private seq = 0
  private readonly token = randomBytes(6).toString('base64url')
  private readonly sharded: boolean
  private readonly messageEvent: 'message' | 'smessage'
  /** Every channel wanted, the home channel first. */
  private readonly wanted = new Set<string>()
  /** Channels Redis confirmed and we have not unsubscribed: what ioredis re-subscribes on reconnect. */
  private readonly confirmed = new Set<string>()
  /**
   * Wanted channels refused with others in one command (an ACL refuses the whole SUBSCRIBE for one
   * channel it forbids): the retry sends each alone, so one forbidden channel holds down no other.
   */
  private readonly alone = new Set<string>()
  /** Wanted channels whose SUBSCRIBE failed, for the retry. */
  private readonly failed = new Set<string>()
  /** The latest resync's commands, all settled (start() awaits the first). */
  private resynced: Promise<void> = Promise.resolve()

  constructor (private readonly o: SubscriptionOptions) {
    this.sharded = o.sharded === true
    this.messageEvent = this.sharded ? 'smessage' : 'message'
    this.wanted.add(o.channel)
  }

  /** True while the home channel is subscribed and the link not judged lost. */
  get connected (): boolean {
    return this.live
  }

  /** How many channels are wanted, the home channel included. */
  get channels (): number {
    return this.wanted.size
  }

  private get ready (): boolean {
    return !this.stopped && this.o.subscriber.status === 'ready'
  }

  private readonly onMessage = (channel: string, text: string): void => {
    if (channel === this.o.channel) {
      this.lastHeard = Date.now()
      if (text.startsWith(HEARTBEAT_PREFIX)) return
    } else if (!this.wanted.has(channel)) {
      // One left a moment ago (Redis had not processed the UNSUBSCRIBE yet), or another user's.
      return
    }
    this.o.onMessage(text, channel)
  }

  private readonly onClose = (): void => this.lose('closed')

  // A Cluster's shard subscriber ended (its node died or failed over): ioredis subscribes again on
  // the slot's new master by itself and the Cluster never closes, so messages of the gap would go
  // unnoticed. Counted as a loss, and subscribed again now (retried until the new master answers).
  private readonly onShardLost = (): void => {
    this.lose('closed')
    this.resynced = this.resync()
  }

  private readonly onReady = (): void => {
    this.resynced = this.resync()
  }

  /**
   * Starts listening and waits up to `readyMs` for the subscriber and the first subscription of
   * every wanted channel; later (re)connections subscribe on their own.
   */
  async start (readyMs: number): Promise<void> {
    const s = this.o.subscriber
    s.on(this.messageEvent, this.onMessage)
    s.on('close', this.onClose)
    s.on('ready', this.onReady)
    s.on('subscribersReady', this.onReady)
    if (this.sharded) s.on('-node', this.onShardLost)
    if (this.o.heartbeatMs > 0) {
      this.timer = setInterval(() => this.beat(), this.o.heartbeatMs)
      this.timer.unref()
    }
    // Already ready: no 'ready' event will come for this connection.
    if (s.status === 'ready') this.onReady()
    if (await waitForReady(s, readyMs)) await this.resynced
  }

  /** Keeps `channel` subscribed from now on (at once when connected, else on the next ready). */
  add (channel: string): void {
    if (this.wanted.has(channel)) return
    this.wanted.add(channel)
    if (this.ready) this.subscribe([channel]) // never rejects: failures are logged and retried
  }

  /** Stops wanting `channel` (the home channel stays); its messages are no longer passed on. */
  remove (channel: string): void {
    if (channel === this.o.channel || !this.wanted.delete(channel)) return
    this.failed.delete(channel)
    this.alone.delete(channel)
    if (this.ready) this.unsubscribe([channel]) // never rejects
  }

  private async resync (): Promise<void> {
    this.failed.clear()
    const stale = [...this.confirmed].filter((c) => !this.wanted.has(c))
    // The home channel in a command of its own: a channel Redis refuses (an ACL) never holds it down.
    await Promise.all([
      stale.length > 0 ? this.unsubscribe(stale) : undefined,
      this.subscribe([this.o.channel]),
      this.subscribe([...this.wanted].slice(1))
    ])
  }

  private batches (channels: string[], most = BATCH): string[][] {
    const size = this.sharded ? 1 : most
    const out: string[][] = []
    for (let i = 0; i < channels.length; i += size) out.push(channels.slice(i, i + size))
    return out
  }

  /** Sends the SUBSCRIBEs (`most` channels per command); resolves once all settled, never rejects (a failure is logged and retried). */
  private async subscribe (channels: string[], most = BATCH): Promise<void> {
    const s = this.o.subscriber
    await Promise.all(this.batches(channels, most).map(async (batch) => {
      try {
        await bounded(this.sharded ? s.ssubscribe(...batch) : s.subscribe(...batch), this.o.timeoutMs)
      } catch (err) {
        if (this.stopped) return
        const refused = (err as { code?: unknown }).code === 'SCALEOUT_ERR_REDIS_NOPERM' && batch.length > 1
        // A channel removed while its SUBSCRIBE was on its way is not retried.
        const retried = batch.filter((c) => this.wanted.has(c))
        for (const c of retried) this.failed.add(c)
        if (refused) for (const c of retried) this.alone.add(c)
        const what = batch.length === 1 ? batch[0] as string : `${batch.length} channels`
        this.o.log.warn({ err, channels: batch.length }, `${this.o.name}: could not subscribe to ${what}; retrying in ${SUBSCRIBE_RETRY_MS}ms`)
        this.retryTimer ??= setTimeout(() => this.retry(), SUBSCRIBE_RETRY_MS).unref()
        return
      }
      for (const c of batch) {
        this.confirmed.add(c)
        this.alone.delete(c)
      }
      if (batch.includes(this.o.channel)) this.up()
    }))
  }

  private async unsubscribe (channels: string[]): Promise<void> {
    const s = this.o.subscriber
    await Promise.all(this.batches(channels).map(async (batch) => {
      try {
        await bounded(this.sharded ? s.sunsubscribe(...batch) : s.unsubscribe(...batch), this.o.timeoutMs)
      } catch {
        // Left confirmed: the next reconnect unsubscribes it as stale.
        return
      }
      for (const c of batch) if (!this.wanted.has(c)) this.confirmed.delete(c)
    }))
  }

  /** Subscribes again the channels whose SUBSCRIBE failed (a reconnect's resync covers them too). */
  private retry (): void {
    this.retryTimer = undefined
    if (this.failed.size === 0 || !this.ready) return
    const channels = [...this.failed]
    this.failed.clear()
    // Both never reject.
    this.subscribe(channels.filter((c) => !this.alone.has(c)))
    this.subscribe(channels.filter((c) => this.alone.has(c)), 1)
  }

  private up (): void {
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
    const unheard = this.accepted.filter((ping) => ping.at > this.lastHeard)
    if (unheard.length >= this.o.misses) {
      const why = unheard.every((ping) => ping.fate === 'accepted')
        ? 'although Redis accepted our pings'
        : unheard.some((ping) => ping.fate === 'unanswered') ? 'and Redis did not answer some of our pings' : 'and our pings could not be sent (the publisher is not connected)'
      this.o.log.warn({ channel: this.o.channel }, `${this.o.name}: heard nothing on ${this.o.channel} ${why}; forcing the subscriber to reconnect`)
      this.lose('silent')
      this.o.subscriber.disconnect(true)
      return
    }
    const at = Date.now()
    const ping = `${HEARTBEAT_PREFIX}${this.token}:${++this.seq}`
    const p = this.o.publisher
    const count = (fate: PingFate): void => {
      this.accepted.push({ at, fate })
      if (this.accepted.length > this.o.misses) this.accepted.shift()
    }
    // A ping that got no answer within the timeout counts: when a partition froze every link to
    // Redis, nothing proves that messages still arrive. So does one refused at once because the
    // publisher is trying to reach Redis (connecting, in its handshake, waiting to reconnect): in
    // such a partition the core reopens a client whose commands time out (see silent-link.ts), and
    // its reconnect then hangs or fails for as long as the partition lasts; nothing proves
    // delivery then either. A refusal from Redis itself (an error reply) proves a working link to
    // Redis and is not counted, nor is one from a publisher its owner closed (status 'end': the app
    // is stopping). One counted around a loss is older than the next subscription and never counts
    // against it.
    bounded(this.sharded ? p.spublish(this.o.channel, ping) : p.publish(this.o.channel, ping), this.o.timeoutMs).then(() => count('accepted'), (err: unknown) => {
      if ((err as { code?: unknown }).code === 'SCALEOUT_ERR_REDIS_TIMEOUT') count('unanswered')
      else if (reconnecting(p)) count('unsent')
    })
  }

  /** Stops listening and retrying; the connection (and with it every subscription) is closed by its owner. */
  stop (): void {
    this.stopped = true
    this.live = false
    clearInterval(this.timer)
    clearTimeout(this.retryTimer)
    const s = this.o.subscriber
    s.off(this.messageEvent, this.onMessage)
    s.off('close', this.onClose)
    s.off('ready', this.onReady)
    s.off('subscribersReady', this.onReady)
    s.off('-node', this.onShardLost)
  }
}
