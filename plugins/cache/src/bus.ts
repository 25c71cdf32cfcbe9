import type { FastifyBaseLogger } from 'fastify'
import { LogThrottle, Subscription, type RedisClient } from '@scaleout/core'
import { parseMessage, type Coherence } from './coherence.js'
import type { Counters } from './counters.js'

/** At most one warning a minute for messages that are not ours: anyone who may PUBLISH on the channel can send them by the thousand. */
const REJECTED_LOG_INTERVAL_MS = 60_000

export interface BusSettings {
  channel: string
  /** SSUBSCRIBE/SPUBLISH: on a Cluster. */
  sharded: boolean
  timeoutMs: number
  heartbeatMs: number
  heartbeatMisses: number
}

/**
 * The invalidation channel (PUBLISH/SUBSCRIBE; SPUBLISH/SSUBSCRIBE on a Cluster, so a failover of
 * its slot is noticed), on the core's resilient subscription: its heartbeat turns a link that looks
 * open but delivers nothing into a loss. A loss (closed, or silent while it looked open) means invalidations may be
 * missed from then on, and a comeback that some were: either way L1 is flushed, and it is bypassed
 * until subscribed again.
 */
export class Bus {
  private readonly subscription: Subscription
  private readonly rejectedLog = new LogThrottle(REJECTED_LOG_INTERVAL_MS)

  constructor (subscriber: RedisClient, publisher: RedisClient, s: BusSettings, coherence: Coherence, counters: Counters, log: FastifyBaseLogger) {
    this.subscription = new Subscription({
      subscriber,
      publisher,
      channel: s.channel,
      sharded: s.sharded,
      timeoutMs: s.timeoutMs,
      heartbeatMs: s.heartbeatMs,
      misses: s.heartbeatMisses,
      name: '@scaleout/cache',
      log: log.child({ plugin: '@scaleout/cache' }),
      onMessage: (text) => {
        const message = parseMessage(text)
        if (message === undefined) {
          counters.busRejected++
          this.rejectedLog.warn(log, { plugin: '@scaleout/cache', channel: s.channel }, '@scaleout/cache: ignored a message that is not an invalidation')
          return
        }
        coherence.receive(message)
      },
      onUp: (first) => coherence.resync(true, !first),
      onLoss: (reason) => {
        if (reason === 'silent') log.warn({ plugin: '@scaleout/cache' }, '@scaleout/cache: invalidation link went silent; L1 flushed and bypassed until resubscribed')
        coherence.resync(false, false)
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
