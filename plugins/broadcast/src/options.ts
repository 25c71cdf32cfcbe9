import { checkBoolean, checkDuration, checkInteger, checkOptions, checkPrefix, invalid, isPlainObject, MAX_TIMER_MS, type RedisOption } from '@scaleout/core'
import { checkOrigins, type OriginCheck } from './origin.js'
import type { BroadcastOptions } from './types.js'

export const PLUGIN = '@scaleout/broadcast'

export interface Settings {
  redis: RedisOption | undefined
  prefix: string
  sharded: boolean | undefined
  /** Largest message: encoded on publish, and a client's frame on the WebSocket route. */
  maxBytes: number
  /** Which cross-origin pages may open the WebSocket route (same-origin ones always may). */
  allowedOrigins: OriginCheck
  /** Bound of every Redis call (PUBLISH, SUBSCRIBE, heartbeat), in ms. */
  timeout: number
  /** In ms; 0 when the heartbeat is off. */
  heartbeatInterval: number
  heartbeatMisses: number
  dedupWindow: number
  maxBufferedBytes: number
  maxChannelsPerSocket: number
}

// `prefix` is ours (the Redis channel prefix), not Fastify's register prefix: listing it lets it through.
const KNOWN = ['redis', 'prefix', 'sharded', 'maxBytes', 'timeout', 'heartbeatInterval',
  'heartbeatMisses', 'dedupWindow', 'maxBufferedBytes', 'maxChannelsPerSocket', 'allowedOrigins'] as const

// Options renamed in this release: refused with the new name, rather than ignored or guessed at.
const RENAMED: Record<string, string> = { maxPayloadBytes: 'maxBytes', publishTimeout: 'timeout' }

/**
 * Largest accepted `maxBytes`: 4 MiB. Redis buffers every message once per subscribed connection,
 * and its stock `client-output-buffer-limit pubsub 32mb 8mb 60` disconnects a subscriber whose
 * buffer passes 32 MB, or 8 MB for 60 s. Past 32 MB a message was reported accepted yet reached no
 * instance, and cost every subscriber its subscription. At 4 MiB one message with its envelope
 * stays under the soft limit on its own, and eight fit under the hard one.
 */
export const MAX_BYTES = 4 * 1024 * 1024

export function checkMaxBytes (value: unknown): number {
  return checkInteger(PLUGIN, 'maxBytes', value, 1, MAX_BYTES)
}

/**
 * The default `pingInterval`: under the 60 s idle timeouts of nginx's `proxy_read_timeout` (and
 * our deploy/nginx.conf), AWS ALB and most load balancers, so a quiet socket is never cut, and a
 * vanished client is dropped within 30 to 60 s. socket.io pings every 25 s.
 */
export const PING_INTERVAL_MS = 30_000

/** The route's `pingInterval` in ms, 0 when it is `false`. */
export function checkPingInterval (value: unknown): number {
  if (value === false) return 0
  return value === undefined ? PING_INTERVAL_MS : checkDuration(PLUGIN, 'pingInterval', value, { min: 1, max: MAX_TIMER_MS })
}

/** Checks every option and fills in defaults; throws SCALEOUT_ERR_INVALID_OPTION on the first bad one. */
export function normalise (options: unknown): Settings {
  // An old name gets its new one, which the closest-name guess cannot always find (publishTimeout).
  for (const [old, now] of Object.entries(RENAMED)) {
    if (isPlainObject(options) && Object.hasOwn(options, old)) throw invalid(PLUGIN, old, `\`${now}\` (the option was renamed; see the README's "Changed" list)`)
  }
  const o = checkOptions(PLUGIN, options, KNOWN) as BroadcastOptions
  return {
    redis: o.redis,
    prefix: o.prefix === undefined ? 'scaleout:broadcast:' : checkPrefix(PLUGIN, 'prefix', o.prefix),
    sharded: o.sharded === undefined ? undefined : checkBoolean(PLUGIN, 'sharded', o.sharded),
    maxBytes: o.maxBytes === undefined ? 65_536 : checkMaxBytes(o.maxBytes),
    allowedOrigins: checkOrigins('allowedOrigins', o.allowedOrigins),
    timeout: o.timeout === undefined ? 1000 : checkDuration(PLUGIN, 'timeout', o.timeout, { min: 1, max: 60_000 }),
    heartbeatInterval: o.heartbeatInterval === false
      ? 0
      : o.heartbeatInterval === undefined ? 5000 : checkDuration(PLUGIN, 'heartbeatInterval', o.heartbeatInterval, { min: 1, max: MAX_TIMER_MS }),
    heartbeatMisses: o.heartbeatMisses === undefined ? 2 : checkInteger(PLUGIN, 'heartbeatMisses', o.heartbeatMisses, 1, 100),
    dedupWindow: o.dedupWindow === undefined ? 10_000 : checkInteger(PLUGIN, 'dedupWindow', o.dedupWindow, 1, 1_000_000),
    maxBufferedBytes: o.maxBufferedBytes === undefined ? 1024 * 1024 : checkInteger(PLUGIN, 'maxBufferedBytes', o.maxBufferedBytes, 1),
    maxChannelsPerSocket: o.maxChannelsPerSocket === undefined ? 100 : checkInteger(PLUGIN, 'maxChannelsPerSocket', o.maxChannelsPerSocket, 1, 100_000)
  }
}
