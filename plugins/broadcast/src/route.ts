import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import type { Broadcaster } from './broadcast.js'
import { WebSocketMissingError } from './errors.js'
import { PLUGIN } from './options.js'
import { GOING_AWAY, POLICY_VIOLATION } from './sockets.js'
import type { BroadcastSocket, WebSocketRouteOptions } from './types.js'

interface WsSocket extends BroadcastSocket {
  on: (event: 'message', listener: (data: Buffer) => void) => unknown
}

/**
 * `fastify.broadcast.websocket(path, options)`: a GET route served by @fastify/websocket whose
 * sockets join the channels `options.channels(request)` names. A socket whose channel list is
 * rejected (or whose channels() throws) is closed with 1008 and the reason logged.
 */
export function addWebSocketRoute (fastify: FastifyInstance, broadcaster: Broadcaster, path: string, options: WebSocketRouteOptions): void {
  if (!fastify.hasDecorator('websocketServer')) throw new WebSocketMissingError()
  const { channels, onMessage, route = {}, ...attachOptions } = options
  if (typeof channels !== 'function') throw new TypeError(`${PLUGIN}: websocket(path, options) needs options.channels(request) returning the channel names`)

  const handler = (socket: WsSocket, request: FastifyRequest): void => {
    if (broadcaster.isClosing) {
      socket.close(GOING_AWAY, 'server shutting down')
      return
    }
    if (onMessage !== undefined) {
      socket.on('message', (data) => {
        Promise.resolve().then(() => onMessage(data, socket, request)).catch((err: unknown) => {
          request.log.error({ err, plugin: PLUGIN }, `${PLUGIN}: onMessage failed`)
        })
      })
    }
    Promise.resolve().then(() => channels(request)).then((names) => {
      broadcaster.attach(socket, names, attachOptions)
    }).catch((err: unknown) => {
      request.log.warn({ err, plugin: PLUGIN }, `${PLUGIN}: WebSocket refused its channels`)
      if (broadcaster.isClosing) socket.close(GOING_AWAY, 'server shutting down')
      else socket.close(POLICY_VIOLATION, (err as { code?: string }).code ?? 'channels refused')
    })
  }

  // `websocket: true` is @fastify/websocket's route option; the cast keeps its types optional for users.
  fastify.route({ ...route, method: 'GET', url: path, websocket: true, handler } as unknown as RouteOptions)
}
