import { checkBoolean, checkInteger, checkPrefix, invalid, isPlainObject, MAX_TIMER_MS, parseDuration, type RedisOption } from '@scaleout/core'
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
  publishTimeout: number
  /** 0 when the heartbeat is off. */
  heartbeatInterval: number
  heartbeatMisses: number
  dedupWindow: number
  maxBufferedBytes: number
  maxChannelsPerSocket: number
}

const KNOWN = new Set(['redis', 'prefix', 'sharded', 'maxBytes', 'publishTimeout', 'heartbeatInterval',
  'heartbeatMisses', 'dedupWindow', 'maxBufferedBytes', 'maxChannelsPerSocket', 'allowedOrigins'])

/** Largest accepted `maxBytes`. */
export const MAX_BYTES = 64 * 1024 * 1024

export function checkMaxBytes (value: unknown): number {
  return checkInteger(PLUGIN, 'maxBytes', value, 1, MAX_BYTES)
}

function positiveMs (option: string, value: unknown, max: number): number {
  const ms = parseDuration(PLUGIN, option, value, 'ms')
  if (ms < 1 || ms > max) throw invalid(PLUGIN, option, `a duration from 1ms to ${max}ms`)
  return ms
}

/** Checks every option and fills in defaults; throws SCALEOUT_ERR_INVALID_OPTION on the first bad one. */
export function normalise (options: unknown): Settings {
  if (!isPlainObject(options)) throw invalid(PLUGIN, 'options', 'an object')
  for (const name of Object.keys(options)) {
    if (name === 'maxPayloadBytes') throw invalid(PLUGIN, name, 'maxBytes (the option was renamed)')
    if (!KNOWN.has(name)) throw invalid(PLUGIN, name, `one of the known options (${[...KNOWN].join(', ')})`)
  }
  const o = options as BroadcastOptions
  return {
    redis: o.redis,
    prefix: o.prefix === undefined ? 'scaleout:broadcast:' : checkPrefix(PLUGIN, 'prefix', o.prefix),
    sharded: o.sharded === undefined ? undefined : checkBoolean(PLUGIN, 'sharded', o.sharded),
    maxBytes: o.maxBytes === undefined ? 65_536 : checkMaxBytes(o.maxBytes),
    allowedOrigins: checkOrigins('allowedOrigins', o.allowedOrigins),
    publishTimeout: o.publishTimeout === undefined ? 1000 : positiveMs('publishTimeout', o.publishTimeout, 60_000),
    heartbeatInterval: o.heartbeatInterval === false ? 0 : o.heartbeatInterval === undefined ? 5000 : positiveMs('heartbeatInterval', o.heartbeatInterval, MAX_TIMER_MS),
    heartbeatMisses: o.heartbeatMisses === undefined ? 2 : checkInteger(PLUGIN, 'heartbeatMisses', o.heartbeatMisses, 1, 100),
    dedupWindow: o.dedupWindow === undefined ? 10_000 : checkInteger(PLUGIN, 'dedupWindow', o.dedupWindow, 1, 1_000_000),
    maxBufferedBytes: o.maxBufferedBytes === undefined ? 1024 * 1024 : checkInteger(PLUGIN, 'maxBufferedBytes', o.maxBufferedBytes, 1),
    maxChannelsPerSocket: o.maxChannelsPerSocket === undefined ? 100 : checkInteger(PLUGIN, 'maxChannelsPerSocket', o.maxChannelsPerSocket, 1, 100_000)
  }
}
