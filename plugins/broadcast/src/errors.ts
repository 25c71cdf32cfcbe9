import { createError } from '@fastify/error'
import { coreErrors } from '@scaleout/core'

// Every error @scaleout/broadcast raises, in one place, so codes stay unique and greppable.
// An oversized or unencodable message gets the core's SCALEOUT_ERR_VALUE_TOO_LARGE / SCALEOUT_ERR_ENCODE.

/** A channel name that is not 1 to 256 printable characters without whitespace. */
export const InvalidChannelError = createError(
  'SCALEOUT_ERR_BROADCAST_CHANNEL',
  'Invalid broadcast channel %s: expected 1 to 256 printable characters without whitespace',
  400,
  TypeError
)

/** A socket asked for more channels than the route allows. */
export const TooManyChannelsError = createError(
  'SCALEOUT_ERR_BROADCAST_TOO_MANY_CHANNELS',
  'A socket may join at most %d channels (asked for %d)',
  400,
  RangeError
)

/**
 * A socket with as many live attachments as its channel limit, attached again without detaching
 * (an app that attaches on every "join" a client sends): each attachment keeps its own detach.
 */
export const TooManyAttachmentsError = createError(
  'SCALEOUT_ERR_BROADCAST_TOO_MANY_ATTACHMENTS',
  'A socket may have at most %d attachments at once (asked for %d): detach one before attaching it again',
  400,
  RangeError
)

/** `subscribe` was given something other than a function. */
export const InvalidHandlerError = createError(
  'SCALEOUT_ERR_BROADCAST_HANDLER',
  'A broadcast handler must be a function',
  500,
  TypeError
)

/** publish/subscribe after the Fastify instance started closing. */
export const ClosedError = createError(
  'SCALEOUT_ERR_BROADCAST_CLOSED',
  '@scaleout/broadcast is closed: the Fastify instance is shutting down',
  503
)

/** The WebSocket route helper was used without @fastify/websocket registered. */
export const WebSocketMissingError = createError(
  'SCALEOUT_ERR_BROADCAST_NO_WEBSOCKET',
  'fastify.broadcast.websocket() needs @fastify/websocket: register it before adding the route',
  500
)

/** A WebSocket handshake from a page on an origin the route does not accept (cross-site WebSocket hijacking). */
export const OriginRefusedError = createError(
  'SCALEOUT_ERR_BROADCAST_ORIGIN',
  'WebSocket connections from origin %s are not accepted',
  403
)

/**
 * Every error @scaleout/broadcast can throw or report, keyed by code, the core's included (a
 * publish's `error`, an option check): `errors[err.code]` is the class of `err`.
 */
export const errors = Object.freeze({
  ...coreErrors,
  SCALEOUT_ERR_BROADCAST_CHANNEL: InvalidChannelError,
  SCALEOUT_ERR_BROADCAST_TOO_MANY_CHANNELS: TooManyChannelsError,
  SCALEOUT_ERR_BROADCAST_TOO_MANY_ATTACHMENTS: TooManyAttachmentsError,
  SCALEOUT_ERR_BROADCAST_HANDLER: InvalidHandlerError,
  SCALEOUT_ERR_BROADCAST_CLOSED: ClosedError,
  SCALEOUT_ERR_BROADCAST_NO_WEBSOCKET: WebSocketMissingError,
  SCALEOUT_ERR_BROADCAST_ORIGIN: OriginRefusedError
})
