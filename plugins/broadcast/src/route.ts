import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler, RouteOptions } from 'fastify'
import { checkKeys, invalid } from '@scaleout/core'
import { ATTACH_KNOWN, type Broadcaster } from './broadcast.js'
import { OriginRefusedError, WebSocketMissingError } from './errors.js'
import { checkOrigins, originAllowed, type OriginCheck } from './origin.js'
import { checkMaxBytes, checkPingInterval, PLUGIN } from './options.js'
import { GOING_AWAY, MESSAGE_TOO_BIG, POLICY_VIOLATION } from './sockets.js'
import type { PingableSocket } from './ping.js'
import type { RouteSocket, WebSocketRouteOptions } from './types.js'

interface WsSocket extends RouteSocket {
  on: {
    (event: 'message', listener: (data: Buffer) => void): unknown
    (event: 'pong' | 'close', listener: (this: PingableSocket) => void): unknown
  }
  ping: () => void
  /** ws's flow control: a paused socket reads nothing more from its TCP link. */
  pause: () => void
  resume: () => void
  readonly isPaused: boolean
  removeListener: (event: 'pong' | 'close', listener: (this: PingableSocket) => void) => unknown
  /** ws's frame parser: its limit is checked against each frame's header, before any payload is buffered. */
  _receiver?: { _maxPayload?: unknown }
  /** ws's negotiated extensions: permessage-deflate's limit bounds what a compressed message inflates to. */
  _extensions: Record<string, { _maxPayload?: unknown } | undefined>
}

/** Lowers one ws limit to `maxBytes`; 0 is ws's "no limit", and a lower limit stays. */
function lower (holder: { _maxPayload?: unknown }, maxBytes: number): void {
  /* c8 ignore next -- ws 8 keeps both limits as numbers */
  if (typeof holder._maxPayload !== 'number') return
  if (holder._maxPayload === 0 || holder._maxPayload > maxBytes) holder._maxPayload = maxBytes
}

/** Lowers this socket's inbound limit (ws applies its server-wide `maxPayload` otherwise, 100 MiB by default). */
function limitFrames (socket: WsSocket, maxBytes: number): void {
  /* c8 ignore next -- ws 8, the version @fastify/websocket 11 uses, always has it */
  if (socket._receiver !== undefined) lower(socket._receiver, maxBytes)
  // A compressed frame announces its compressed length: the receiver's check passes 32 MiB of
  // zeros sent as 32 KB, and ws would inflate it whole (up to the server-wide maxPayload, 100 MiB
  // by default) before refusing it. The extension's own limit stops the inflating at maxBytes.
  const deflate = socket._extensions['permessage-deflate']
  if (deflate !== undefined) lower(deflate, maxBytes)
}

/**
 * Most onMessage calls running at once per socket. Each frame used to start one at once, however
 * many were still running: a client sending faster than onMessage finished (awaiting a publish
 * while Redis is slow, a database) made the server hold every frame and call without bound.
 */
export const MAX_MESSAGES_IN_FLIGHT = 32

// pingInterval is both the route's and attach()'s: listed once.
const ROUTE_KNOWN = [...new Set(['channels', 'onMessage', 'route', 'allowedOrigins', 'maxBytes', 'pingInterval', ...ATTACH_KNOWN])]

function originHook (check: OriginCheck): onRequestHookHandler {
  return function checkOrigin (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
    if (originAllowed(check, request)) done()
    else done(new OriginRefusedError(JSON.stringify(String(request.headers.origin).slice(0, 100))))
  }
}

function hooks (value: unknown): unknown[] {
  if (value === undefined) return []
  return Array.isArray(value) ? value : [value]
}

/**
 * `fastify.broadcast.websocket(path, options)`: a GET route served by @fastify/websocket whose
 * sockets join the channels `options.channels(request)` names. A socket whose channel list is
 * rejected (or whose channels() throws) is closed with 1008 and the reason logged.
 */
export function addWebSocketRoute (fastify: FastifyInstance, broadcaster: Broadcaster, path: string, options: WebSocketRouteOptions): void {
  if (!fastify.hasDecorator('websocketServer')) throw new WebSocketMissingError()
  if (typeof options !== 'object' || options === null) throw invalid(PLUGIN, 'websocket options', 'an object')
  // Unknown keys refused, as the plugin's are: a misspelt bound (`maxChanels`, `pingIntervall`)
  // would otherwise be passed on unread and leave the route at the default.
  checkKeys(PLUGIN, 'websocket()', options as unknown as Record<string, unknown>, ROUTE_KNOWN)
  const { channels, onMessage, route = {}, allowedOrigins, maxBytes: routeMaxBytes, pingInterval, ...attachOptions } = options
  // Coded, as every bad option is; an onMessage that is not a function would otherwise be called,
  // and fail, once for every frame a client sends.
  if (typeof channels !== 'function') throw invalid(PLUGIN, 'channels', 'a function (request) => channel names')
  if (onMessage !== undefined && typeof onMessage !== 'function') throw invalid(PLUGIN, 'onMessage', 'a function (data, socket, request)')
  const check = allowedOrigins === undefined ? broadcaster.allowedOrigins : checkOrigins('websocket allowedOrigins', allowedOrigins)
  const maxBytes = routeMaxBytes === undefined ? broadcaster.maxBytes : checkMaxBytes(routeMaxBytes)
  // Checked now, at startup, not when the first socket attaches.
  const { maxBufferedBytes } = broadcaster.attachLimits(attachOptions)
  const pingMs = checkPingInterval(pingInterval)
  const sweep = pingMs === 0 ? undefined : broadcaster.pingSweep(pingMs, maxBufferedBytes)

  const handler = (socket: WsSocket, request: FastifyRequest): void => {
    limitFrames(socket, maxBytes)
    if (broadcaster.isClosing) {
      socket.close(GOING_AWAY, 'server shutting down')
      return
    }
    // From the upgrade on, not from the attach: a socket whose channels() is still running is pinged too.
    sweep?.add(socket)
    if (onMessage !== undefined) {
      let running = 0
      // Frames ws had already read while MAX_MESSAGES_IN_FLIGHT calls ran, in order. The socket is
      // paused meanwhile: TCP backpressure reaches the client, and this holds at most one read's worth.
      const waiting: Buffer[] = []
      const handle = (data: Buffer): void => {
        running++
        // Checked right before each call: a client that sends but never reads cannot make the
        // answers of onMessage pile up past maxBufferedBytes and one answer.
        Promise.resolve().then(() => {
          if (!broadcaster.dropIfSlow(socket, maxBufferedBytes)) return onMessage(data, socket, request)
        }).catch((err: unknown) => {
          request.log.error({ err, plugin: PLUGIN }, `${PLUGIN}: onMessage failed`)
        }).finally(() => {
          running--
          const next = waiting.shift()
          if (next !== undefined) handle(next)
          // ws ignores a resume of a closed socket.
          else if (socket.isPaused) socket.resume()
        })
      }
      socket.on('message', (data) => {
        // Only where ws's own limit could not be lowered: the frame is already buffered, but not passed on.
        /* c8 ignore next 4 -- ws 8, the version @fastify/websocket 11 uses, always has the receiver limit */
        if (data.length > maxBytes) {
          socket.close(MESSAGE_TOO_BIG, 'message too big')
          return
        }
        if (running < MAX_MESSAGES_IN_FLIGHT) {
          handle(data)
        } else {
          waiting.push(data)
          socket.pause()
        }
      })
    }
    // Until channels() answers the socket is not attached: held apart, so that shutdown closes it too.
    const known = broadcaster.waitForChannels(socket)
    Promise.resolve().then(() => channels(request)).then((names) => {
      known()
      // Not pinged by attach(): the route's sweep pings its sockets (see waitForChannels).
      broadcaster.attach(socket, names, attachOptions)
    }).catch((err: unknown) => {
      known()
      request.log.warn({ err, plugin: PLUGIN }, `${PLUGIN}: WebSocket refused its channels`)
      if (broadcaster.isClosing) socket.close(GOING_AWAY, 'server shutting down')
      else socket.close(POLICY_VIOLATION, closeReason(err))
    })
  }

  // `websocket: true` is @fastify/websocket's route option; the cast keeps its types optional for users.
  // The Origin check runs first, before the user's own hooks and before the upgrade: a refused
  // handshake gets 403 and never becomes a socket.
  const onRequest = [originHook(check), ...hooks((route as { onRequest?: unknown }).onRequest)]
  fastify.route({ ...route, onRequest, method: 'GET', url: path, websocket: true, handler } as unknown as RouteOptions)
}

/**
 * The close reason for a refused channel list: the error's code when it has a string one that fits
 * a close frame (123 bytes; ws throws on more), else a fixed text. Whatever channels() threw.
 */
export function closeReason (err: unknown): string {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  return typeof code === 'string' && code !== '' && Buffer.byteLength(code) <= 123 ? code : 'channels refused'
}
