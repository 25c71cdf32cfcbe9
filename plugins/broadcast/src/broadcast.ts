import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { boundFor, checkInteger, checkKeys, createCodec, invalid, instanceIdentity, LogThrottle, Subscription, type Bound, type RedisClient, type SizedCodec } from '@scaleout/core'
import { DedupWindow } from './dedup.js'
import { cleanEncoded, decodeEnvelope, Delivery, encodeEnvelope } from './envelope.js'
import { ClosedError, InvalidChannelError, InvalidHandlerError, TooManyAttachmentsError, TooManyChannelsError } from './errors.js'
import { handlerListener, Hub, type Listener, type Receipt } from './hub.js'
import { checkPingInterval, PLUGIN, type Settings } from './options.js'
import type { OriginCheck } from './origin.js'
import { PingSweep, type PingableSocket } from './ping.js'
import { type DropReason, type Membership, SocketListener, SocketRegistry } from './sockets.js'
import type { AttachOptions, BroadcastSocket, BroadcastStats, MessageHandler, MessageMeta, PublishResult } from './types.js'

// How long a socket gets to answer the 1001 close handshake at shutdown before it is terminated.
const CLOSE_GRACE_MS = 2000

// Printable: no whitespace, control (C0 and C1), format (zero-width), private-use or surrogate
// character. A lone surrogate would become U+FFFD on its way to Redis: two names, one channel.
const CHANNEL = /^[^\s\p{Cc}\p{Cf}\p{Co}\p{Cs}]+$/u

function checkChannel (channel: unknown): string {
  if (typeof channel !== 'string' || channel.length > 256 || !CHANNEL.test(channel)) throw new InvalidChannelError(JSON.stringify(String(channel).slice(0, 60)))
  return channel
}

/** HOSTNAME:pid:random: instances in one process (tests) or one pod (workers) never share an id. */
function newInstanceId (): string {
  const { id, pid } = instanceIdentity()
  return `${id.replace(/[^\w.-]/g, '_').slice(0, 150)}:${pid}:${randomUUID().slice(0, 8)}`
}

type Counters = Omit<BroadcastStats, 'channels' | 'listeners' | 'sockets'>

/**
 * At most one warning per minute (after the first) for messages that are not valid envelopes:
 * anyone who can PUBLISH on our channels can send them by the thousand. stats().rejected counts each.
 */
const REJECTED_LOG_INTERVAL_MS = 60_000

/**
 * The same for publishes Redis did not take: while it is down, a service publishing a thousand
 * messages a second (or a WebSocket client whose every frame makes onMessage publish) would write
 * a thousand warnings a second. stats().remoteFailures counts each, and each result carries its error.
 */
const REMOTE_FAILURE_LOG_INTERVAL_MS = 60_000

/** attach()'s options, also accepted (and passed on) by websocket(). */
export const ATTACH_KNOWN = ['maxBufferedBytes', 'maxChannels', 'pingInterval'] as const

/** A publish on a channel without local listeners. */
const NOBODY: Receipt = Object.freeze({ reached: 0 })

/** A ws WebSocket (pings and pong events), not only the part of one the bridge sends on. */
function isPingable (socket: BroadcastSocket): socket is PingableSocket {
  const s = socket as Partial<PingableSocket>
  return typeof s.ping === 'function' && typeof s.on === 'function' && typeof s.removeListener === 'function'
}

/**
 * Local fan-out over the core's resilient subscription, behind `fastify.broadcast`. The
 * subscription's home channel is this instance's own (`<prefix>hb:<instanceId>`): the heartbeat
 * pings it, and the channels local listeners want are added and removed as they come and go.
 */
export class Broadcaster {
  readonly instanceId = newInstanceId()
  readonly sharded: boolean
  /** From preClose: no new sockets or subscriptions. */
  private closing = false
  /**
   * From onClose. publish() works until then: Fastify waits for the requests in flight between the
   * two, and what they publish must still reach the other instances over the connections still open.
   */
  private stopped = false
  private readonly hub = new Hub()
  private readonly sockets = new SocketRegistry()
  private readonly dedup: DedupWindow
  private readonly codec: SizedCodec
  private readonly channelPrefix: string
  private readonly homeChannel: string
  private readonly subscription: Subscription
  private readonly publisher: RedisClient
  /** Bounds a publish by `timeout` (see the core's boundFor). */
  private readonly bound: Bound
  private readonly settings: Settings
  private readonly log: FastifyBaseLogger
  private readonly rejectedLog = new LogThrottle(REJECTED_LOG_INTERVAL_MS)
  private readonly remoteFailureLog = new LogThrottle(REMOTE_FAILURE_LOG_INTERVAL_MS)
  private readonly counters: Counters = {
    published: 0, remoteFailures: 0, received: 0, echoes: 0, duplicates: 0, rejected: 0, slowDropped: 0, unresponsiveDropped: 0, forcedReconnects: 0
  }

  /** The ping sweep of each websocket() route that has one, and attach()'s, stopped at shutdown. */
  private readonly sweeps = new Set<PingSweep>()
  /** attach()'s ping sweeps, one per interval in use: each gone with its last socket. */
  private readonly attachSweeps = new Map<number, PingSweep>()
  /**
   * The sockets of websocket() routes: their route's pingInterval is theirs (its `false` too), also
   * when the app attaches one again itself (joining a room from onMessage).
   */
  private readonly routeSockets = new WeakSet<BroadcastSocket>()

  /** `owned` is only passed on: the core bounds a caller's client and ours the same way (see boundFor). */
  constructor (settings: Settings, publisher: RedisClient, owned: boolean, subscriber: RedisClient, sharded: boolean, log: FastifyBaseLogger) {
    this.settings = settings
    this.sharded = sharded
    this.log = log
    this.publisher = publisher
    this.dedup = new DedupWindow(settings.dedupWindow)
    this.codec = createCodec(PLUGIN, { maxBytes: settings.maxBytes })
    this.channelPrefix = settings.prefix + 'c:'
    this.homeChannel = settings.prefix + 'hb:' + this.instanceId
    this.bound = boundFor(publisher, owned, settings.timeout)
    this.subscription = new Subscription({
      subscriber,
      publisher,
      channel: this.homeChannel,
      sharded,
      timeoutMs: settings.timeout,
      heartbeatMs: settings.heartbeatInterval,
      misses: settings.heartbeatMisses,
      name: PLUGIN,
      log: log.child({ plugin: PLUGIN }),
      onMessage: (text, channel) => this.fromRedis(channel, text),
      // Nothing to catch up on: delivery is at most once, and a message missed while down is gone.
      onUp: () => undefined,
      onLoss: (reason) => {
        if (reason === 'silent') this.counters.forcedReconnects++
      }
    })
  }

  /** Subscribes this instance's own channel, waiting up to `readyMs`; channels follow the listeners. */
  async start (readyMs: number): Promise<void> {
    await this.subscription.start(readyMs)
  }

  private fromRedis (redisChannel: string, text: string): void {
    // Only pings belong on the home channel (the subscription keeps those): anything else is not ours.
    const delivery = redisChannel === this.homeChannel ? undefined : decodeEnvelope(redisChannel.slice(this.channelPrefix.length), text, this.settings.maxBytes)
    if (delivery === undefined) {
      this.counters.rejected++
      this.rejectedLog.warn(this.log, { plugin: PLUGIN, channel: redisChannel }, `${PLUGIN}: dropped a message that is not a valid envelope`)
      return
    }
    if (delivery.meta.origin === this.instanceId) {
      this.counters.echoes++
      return
    }
    if (!this.dedup.add(delivery.meta.id)) {
      this.counters.duplicates++
      return
    }
    this.counters.received++
    this.hub.deliver(delivery)
  }

  /** Resolves with the number of subscribers Redis counted; rejects with a coded Redis error. */
  private async send (channel: string, text: string): Promise<number> {
    const reply = this.sharded ? this.publisher.spublish(channel, text) : this.publisher.publish(channel, text)
    return Number(await this.bound(reply))
  }

  async publish (channel: string, message: unknown): Promise<PublishResult> {
    if (this.stopped) throw new ClosedError()
    checkChannel(channel)
    // A message object with an own __proto__ key (from a JSON.parse of client input) is encoded with
    // it: the body every handler and socket gets is what a safe decode of it keeps.
    const body = cleanEncoded(this.codec.encode(message) as string)
    const meta: MessageMeta = Object.freeze({ channel, id: randomUUID(), origin: this.instanceId, time: Date.now(), local: true })
    this.counters.published++
    // Remembered like a remote message's id: a copy coming back under another origin (a replay, a
    // relay) is a duplicate here too, not only on the instances that received the original.
    this.dedup.add(meta.id)
    // The PUBLISH is queued on the connection before any local handler runs: a handler that
    // publishes in reaction queues its PUBLISH after this one, so other instances get the cause
    // before the effect. Local subscribers are then reached synchronously, never waiting for Redis;
    // a reaction published by one of them waits for the cause to reach them all (see Hub.deliver),
    // so they too get the cause first. Either way the receipt is final before `sent` can settle.
    const sent = this.send(this.channelPrefix + channel, encodeEnvelope(meta.id, meta.origin, meta.time, body))
    const local = this.hub.has(channel) ? this.hub.deliver(new Delivery(meta, body)) : NOBODY
    try {
      const receivers = await sent
      return { id: meta.id, delivered: local.reached, remote: true, receivers, error: null }
    } catch (err) {
      this.counters.remoteFailures++
      this.remoteFailureLog.warn(this.log, { err, plugin: PLUGIN, channel }, `${PLUGIN}: publish reached local subscribers only`)
      return { id: meta.id, delivered: local.reached, remote: false, receivers: null, error: err as Error }
    }
  }

  subscribe (channel: string, handler: MessageHandler): () => void {
    if (this.closing) throw new ClosedError()
    checkChannel(channel)
    if (typeof handler !== 'function') throw new InvalidHandlerError()
    const listener = handlerListener(handler, this.log)
    this.join(channel, listener)
    return () => this.leave(channel, listener)
  }

  attach (socket: BroadcastSocket, channels: string[], options: AttachOptions = {}): () => void {
    if (this.closing) throw new ClosedError()
    const { maxChannels, maxBufferedBytes, pingMs } = this.attachLimits(options)
    if (!Array.isArray(channels)) throw new InvalidChannelError('list (not an array)')
    // A name repeated in the list (a join list sent twice) is one channel: it counts once.
    const unique: string[] = [...new Set(channels)]
    if (unique.length > maxChannels) throw new TooManyChannelsError(maxChannels, unique.length)
    unique.forEach(checkChannel)
    // Closed already (it went away while channels() ran): 'close' will not fire again to detach it.
    if (socket.readyState > 1) return () => undefined
    // maxChannels bounds the socket, not one call: attached once per room, it counts every room.
    const existing = this.sockets.get(socket)
    const total = (existing?.channels.size ?? 0) + unique.filter((channel) => existing?.channels.has(channel) !== true).length
    if (total > maxChannels) throw new TooManyChannelsError(maxChannels, total)
    // Each attachment keeps its own detach and holds its channels once more: attached again and
    // again to a channel it is in (on every "join" a client sends), a socket would grow both without
    // bound. One attachment per channel is the most an app needs, so the same limit bounds them.
    const attachments = (existing?.detaches.size ?? 0) + 1
    if (attachments > maxChannels) throw new TooManyAttachmentsError(maxChannels, attachments)
    const member = existing ?? this.sockets.add(socket, new SocketListener(socket, maxBufferedBytes, (dropped, reason, err) => { this.drop(dropped.socket, reason, err) }))
    member.listener.maxBufferedBytes = Math.min(member.listener.maxBufferedBytes, maxBufferedBytes)
    for (const channel of unique) {
      const holders = member.channels.get(channel) ?? 0
      member.channels.set(channel, holders + 1)
      // A channel the socket is in already is not joined twice: each message reaches it once.
      if (holders === 0) this.join(channel, member.listener)
    }
    this.pingAttached(socket, member, pingMs)
    let attached = true
    const detach = (): void => {
      if (!attached) return
      attached = false
      member.detaches.delete(detach)
      for (const channel of unique) {
        const holders = (member.channels.get(channel) as number) - 1
        if (holders > 0) {
          member.channels.set(channel, holders)
        } else {
          member.channels.delete(channel)
          this.leave(channel, member.listener)
        }
      }
      if (member.detaches.size === 0) {
        // The app may keep the socket: once no attachment holds it, it is not ours to ping or drop.
        member.sweep?.delete(socket as PingableSocket)
        this.sockets.delete(socket, member)
      }
    }
    member.detaches.add(detach)
    return detach
  }

  /**
   * A socket of the app's own route was never pinged: a client that vanished without closing stayed
   * attached, counted and subscribed until the kernel gave up on its link (on quiet channels, never),
   * and a proxy's idle timeout cut a quiet one. It is now pinged as a websocket() route's sockets
   * are, once however many attachments it has, by the sweep of the smallest interval they asked for.
   */
  private pingAttached (socket: BroadcastSocket, member: Membership, pingMs: number): void {
    if (pingMs === 0 || this.routeSockets.has(socket) || !isPingable(socket) || (member.sweep !== undefined && member.pingMs <= pingMs)) return
    member.sweep?.delete(socket)
    let sweep = this.attachSweeps.get(pingMs)
    if (sweep === undefined) {
      // Its limit is the socket's own (the smallest of its attachments'), read when the ping is due.
      sweep = new PingSweep(pingMs, (pinged) => this.dropIfSlow(pinged, (this.sockets.get(pinged) as Membership).listener.maxBufferedBytes), (pinged, pingFailed) => this.lost(pinged, pingFailed), (idle) => {
        // One sweep per interval in use, not per interval ever asked for.
        this.attachSweeps.delete(pingMs)
        this.sweeps.delete(idle)
      })
      this.attachSweeps.set(pingMs, sweep)
      this.sweeps.add(sweep)
    }
    member.sweep = sweep
    member.pingMs = pingMs
    sweep.add(socket)
  }

  /** attach()'s limits: the options' own, checked as the plugin's are, else the plugin's. */
  attachLimits (options: AttachOptions): { maxChannels: number, maxBufferedBytes: number, pingMs: number } {
    if (typeof options !== 'object' || options === null) throw invalid(PLUGIN, 'attach options', 'an object')
    // A misspelt bound (`maxChanels`) would otherwise leave the socket at the plugin's default.
    checkKeys(PLUGIN, 'attach()', options as Record<string, unknown>, ATTACH_KNOWN)
    return {
      maxChannels: options.maxChannels === undefined ? this.settings.maxChannelsPerSocket : checkInteger(PLUGIN, 'maxChannels', options.maxChannels, 1, 100_000),
      maxBufferedBytes: options.maxBufferedBytes === undefined ? this.settings.maxBufferedBytes : checkInteger(PLUGIN, 'maxBufferedBytes', options.maxBufferedBytes, 1),
      // 30 s by default, as on a websocket() route; 0 when `false`.
      pingMs: checkPingInterval(options.pingInterval)
    }
  }

  /**
   * A socket of a websocket() route whose channels() is running: shutdown closes it with the
   * attached ones. The returned function lets go of it (once its channels are known). Marked as a
   * route's socket: attach() leaves its pings to the route.
   */
  waitForChannels (socket: PingableSocket): () => void {
    this.routeSockets.add(socket)
    return this.sockets.wait(socket)
  }

  /**
   * Drops a socket of a websocket() route that has more than `maxBufferedBytes` unsent: a client
   * that keeps sending to onMessage but never reads the answers. Only our own sends checked the
   * buffer, so on quiet channels the answers piled up without bound. True when dropped.
   */
  dropIfSlow (socket: BroadcastSocket, maxBufferedBytes: number): boolean {
    // Not open: dropped already (messages read before are still on their way), or closing anyway.
    if (socket.readyState !== 1 || socket.bufferedAmount <= maxBufferedBytes) return false
    this.drop(socket, 'slow')
    return true
  }

  /**
   * The WebSocket heartbeat of a websocket() route. A socket past `maxBufferedBytes` when its ping
   * is due is dropped as a slow client instead, answered or not: a ping (and its pong) would wait
   * behind that buffer, and only sends checked it, so on a quiet channel such a socket stayed.
   */
  pingSweep (intervalMs: number, maxBufferedBytes: number): PingSweep {
    const sweep = new PingSweep(intervalMs, (socket) => this.dropIfSlow(socket, maxBufferedBytes), (socket, pingFailed) => this.lost(socket, pingFailed))
    this.sweeps.add(sweep)
    return sweep
  }

  /** A socket a ping sweep gave up on: it did not answer, or its ping threw. */
  private lost (socket: BroadcastSocket, pingFailed: { err: unknown } | undefined): void {
    if (pingFailed === undefined) this.drop(socket, 'unresponsive')
    else this.drop(socket, 'ping-failed', pingFailed.err)
  }

  private drop (socket: BroadcastSocket, reason: DropReason, err?: unknown): void {
    if (reason === 'slow') {
      this.counters.slowDropped++
      this.log.warn({ plugin: PLUGIN, bufferedAmount: socket.bufferedAmount }, `${PLUGIN}: dropped a WebSocket client that reads too slowly`)
    } else if (reason === 'unresponsive') {
      // Debug, not warn: clients vanish all the time (a closed laptop, a network switch), and a
      // network blip can take thousands at once. stats().unresponsiveDropped counts each.
      this.counters.unresponsiveDropped++
      this.log.debug({ plugin: PLUGIN }, `${PLUGIN}: dropped a WebSocket client that did not answer a ping`)
    } else {
      this.log.warn({ err, plugin: PLUGIN }, `${PLUGIN}: dropped a WebSocket client whose ${reason === 'ping-failed' ? 'ping' : 'send'} threw`)
    }
    this.sockets.detach(socket)
    try {
      socket.terminate()
    } catch {
      // A socket whose send threw may throw here too; it is detached, which is what matters.
    }
  }

  private join (channel: string, listener: Listener): void {
    if (this.hub.add(channel, listener)) this.subscription.add(this.channelPrefix + channel)
  }

  private leave (channel: string, listener: Listener): void {
    if (this.hub.remove(channel, listener)) this.subscription.remove(this.channelPrefix + channel)
  }

  get maxBytes (): number {
    return this.settings.maxBytes
  }

  get allowedOrigins (): OriginCheck {
    return this.settings.allowedOrigins
  }

  get isClosing (): boolean {
    return this.closing
  }

  /** First step of shutdown: refuse new work, close every socket with 1001. */
  stopAccepting (): void {
    this.closing = true
    for (const sweep of this.sweeps) sweep.stop()
    this.sockets.closeAll(CLOSE_GRACE_MS)
  }

  /**
   * Last step: handlers hear remote messages until here. The connections (and with them every
   * subscription) are quit afterwards by the core.
   */
  close (): void {
    this.stopped = true
    this.stopAccepting()
    this.subscription.stop()
  }

  stats (): BroadcastStats {
    return { channels: this.subscription.channels, listeners: this.hub.listeners, sockets: this.sockets.size, ...this.counters }
  }
}
