import type { FastifyRequest, RouteShorthandOptions } from 'fastify'
import type { RedisOption } from '@scaleout/core'

export interface BroadcastOptions {
  /** How to reach Redis (see @scaleout/core); default `fastify.redis`, then REDIS_URL. */
  redis?: RedisOption
  /** Prefix of every Redis channel. Default `"scaleout:broadcast:"`. */
  prefix?: string
  /** SPUBLISH/SSUBSCRIBE instead of PUBLISH/SUBSCRIBE. Default: true for a Cluster client, false otherwise. */
  sharded?: boolean
  /**
   * Largest message in bytes: an encoded message on publish, and a frame a WebSocket client sends
   * to the route (refused with close code 1009). Default 65536.
   */
  maxBytes?: number
  /**
   * Cross-origin pages allowed to open the WebSocket route: a list of origins
   * (`"https://app.example.com"`) or `(origin, request) => boolean`. Same-origin pages and requests
   * without an Origin header are always allowed. Default: none.
   */
  allowedOrigins?: string[] | ((origin: string, request: FastifyRequest) => boolean)
  /**
   * How long any Redis call waits (a publish, a SUBSCRIBE, a heartbeat ping): a number of
   * milliseconds or a string such as "1s", from 1ms to 60s. Default 1000. Formerly `publishTimeout`.
   */
  timeout?: number | string
  /**
   * How often each instance pings its own channel to prove its subscriber link delivers: a number of
   * milliseconds or a string such as "5s"; `false` turns the heartbeat off. Default 5000.
   */
  heartbeatInterval?: number | string | false
  /** Pings Redis accepted but not heard back before the subscriber is forced to reconnect. Default 2. */
  heartbeatMisses?: number
  /** How many recent message ids (received or published) are remembered to drop duplicates. Default 10000. */
  dedupWindow?: number
  /** Default for sockets: buffered bytes past which a slow client is dropped. Default 1 MiB. */
  maxBufferedBytes?: number
  /** Default for sockets: most channels one socket may be in, over all its attach() calls, and most live attach() calls. Default 100. */
  maxChannelsPerSocket?: number
}

/** What a handler learns about a message besides its body. */
export interface MessageMeta {
  readonly channel: string
  /** Unique message id (UUID). */
  readonly id: string
  /** The instance that published it (`fastify.broadcast.instanceId` there). */
  readonly origin: string
  /** When it was published, in ms since the epoch (the publisher's clock). */
  readonly time: number
  /** True when it was published on this instance. */
  readonly local: boolean
}

/**
 * Receives a message. The body is decoded once and shared by every handler of the instance:
 * treat it as read-only. Errors thrown (or rejected) are logged and never reach the publisher.
 */
export type MessageHandler = (message: unknown, meta: MessageMeta) => void | Promise<void>

/** What a publish did. It never rejects because of Redis: a remote failure is reported here. */
export interface PublishResult {
  id: string
  /** Local handlers and sockets it was delivered to. */
  delivered: number
  /** True when Redis accepted the message for the other instances. */
  remote: boolean
  /** Subscribed instances Redis counted (this one included), or null when the remote send failed. */
  receivers: number | null
  /** Why the remote send failed (SCALEOUT_ERR_REDIS_UNAVAILABLE / _TIMEOUT), else null. */
  error: Error | null
}

export interface BroadcastStats {
  /** Redis channels subscribed: one per channel with local listeners, plus this instance's own. */
  channels: number
  /** Handlers and sockets currently subscribed. */
  listeners: number
  sockets: number
  published: number
  /** Publishes whose Redis send failed. */
  remoteFailures: number
  /** Messages from other instances accepted. */
  received: number
  /** Copies of our own messages coming back from Redis, dropped. */
  echoes: number
  /** Messages dropped because their id was seen within the de-duplication window. */
  duplicates: number
  /** Messages from Redis that were not a valid envelope, dropped. */
  rejected: number
  /** Sockets dropped because their buffer passed maxBufferedBytes. */
  slowDropped: number
  /** Sockets (of a websocket() route, or attached) dropped because they did not answer a ping within `pingInterval`. */
  unresponsiveDropped: number
  /** Subscriber reconnects forced by the heartbeat (the link looked open but delivered nothing). */
  forcedReconnects: number
}

/** The part of a `ws` WebSocket the bridge uses. */
export interface BroadcastSocket {
  readonly readyState: number
  readonly bufferedAmount: number
  send: (data: Buffer, options: { binary: boolean }) => void
  close: (code?: number, reason?: string) => void
  terminate: () => void
  once: (event: 'close', listener: () => void) => unknown
  /** Called, when the socket has it (ws's do), to take back the socket's 'close' listener once its last attachment is detached. */
  removeListener?: (event: 'close', listener: () => void) => unknown
}

/** The socket `onMessage` gets: the route's ws WebSocket, which sends text (a string) as well as a Buffer. */
export interface RouteSocket extends Omit<BroadcastSocket, 'send'> {
  send: {
    (data: string | Buffer): void
    (data: string | Buffer, options: { binary?: boolean }): void
  }
}

export interface AttachOptions {
  /** Buffered bytes past which this socket is dropped (the smallest of its attachments'). Default: the plugin's maxBufferedBytes. */
  maxBufferedBytes?: number
  /** Most channels this socket may be in, counted over all its attachments, and most live attachments it may have. Default: the plugin's maxChannelsPerSocket. */
  maxChannels?: number
  /**
   * How often the socket (a ws WebSocket) is sent a WebSocket ping, as on a websocket() route: a
   * number of milliseconds or a string such as "30s"; one that has not answered with a pong by the
   * next ping is terminated and detached (`stats().unresponsiveDropped`). The smallest of the
   * socket's attachments' applies; `false` asks for none. Default 30000. A socket is no longer
   * pinged once its last attachment is detached.
   */
  pingInterval?: number | string | false
}

export interface WebSocketRouteOptions extends AttachOptions {
  /** Overrides the plugin's `allowedOrigins` for this route. */
  allowedOrigins?: string[] | ((origin: string, request: FastifyRequest) => boolean)
  /** Largest frame a client may send, in bytes. Default: the plugin's maxBytes. */
  maxBytes?: number
  /**
   * How often each socket of the route is sent a WebSocket ping: a number of milliseconds or a
   * string such as "30s"; a socket that has not answered with a pong by the next ping is terminated
   * and detached (`stats().unresponsiveDropped`). `false` sends no pings. Default 30000.
   */
  pingInterval?: number | string | false
  /** The channels a new socket joins (checked; an invalid list closes the socket with 1008). */
  channels: (request: FastifyRequest) => string[] | Promise<string[]>
  /**
   * Called with each message the client sends (the bridge ignores them otherwise); not called, and
   * the socket dropped as a slow client, while more than maxBufferedBytes waits to be sent to it.
   * At most 32 calls run at once per socket: the next frames wait, in order, and the socket stops
   * reading until one finishes.
   */
  onMessage?: (data: Buffer, socket: RouteSocket, request: FastifyRequest) => void | Promise<void>
  /** Extra route options (hooks such as preValidation for authentication, config, schema). */
  route?: Omit<RouteShorthandOptions, 'websocket'>
}

export interface Broadcast {
  /** This instance's id in message envelopes: `<HOSTNAME>:<pid>:<random>`. */
  readonly instanceId: string
  /** True when channels use SPUBLISH/SSUBSCRIBE (Redis Cluster). */
  readonly sharded: boolean
  /**
   * Delivers `message` (any JSON value) to every subscriber of `channel` on every instance:
   * here synchronously (published by a handler, right after the message being delivered), and
   * through Redis. Rejects only for a bad channel or message.
   */
  publish: (channel: string, message: unknown) => Promise<PublishResult>
  /** Calls `handler` for each message on `channel`; returns the function that unsubscribes. */
  subscribe: (channel: string, handler: MessageHandler) => () => void
  /**
   * Sends every message of `channels` to `socket` as `{"channel":...,"data":...}` text frames until
   * it closes. Returns the function that detaches it early.
   */
  attach: (socket: BroadcastSocket, channels: string[], options?: AttachOptions) => () => void
  /** Adds a GET WebSocket route whose sockets join `options.channels(request)` (needs @fastify/websocket). */
  websocket: (path: string, options: WebSocketRouteOptions) => void
  /** Counters for health routes and tests. */
  stats: () => BroadcastStats
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Cross-instance pub/sub over Redis, with a WebSocket bridge (@scaleout/broadcast). */
    broadcast: Broadcast
  }
}
