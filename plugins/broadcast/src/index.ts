import fp from 'fastify-plugin'
import { broadcastPlugin } from './plugin.js'
import { PLUGIN } from './options.js'
import type { BroadcastOptions } from './types.js'

/** Cross-instance pub/sub over Redis, with a WebSocket bridge for @fastify/websocket. */
export const broadcast = fp<BroadcastOptions>(broadcastPlugin, { fastify: '5.x', name: PLUGIN })
export default broadcast

export { errors, InvalidChannelError, TooManyChannelsError, TooManyAttachmentsError, InvalidHandlerError, ClosedError, WebSocketMissingError, OriginRefusedError } from './errors.js'
export type * from './types.js'
