import { META_DEADLINE } from './fields.js'
import { wholeSeconds } from './options.js'

// A session ends at whichever comes first:
// - idle: `ttl` without use (or the session's own idle time, see own-cookie.ts). This is the key's
//   Redis expiry, set that far ahead by every read (GETEX, with a PEXPIRE after it when the idle
//   time it slid by was not the session's: see Store.idleHint) and every write (a merging one in
//   its script, an appending one by the PEXPIRE behind its APPEND: see Store.expireBehind), so
//   Redis itself removes an idle session, and a key an APPEND made again expires too.
// - absolute: `maxLifetime` after it was created or regenerated. The deadline is the `m:d` field,
//   stamped from Redis's clock when the session is created, and checked on every use: past it the
//   session reads as gone and writes to it are dropped. Its key, no longer slid (a read that finds
//   it past the deadline puts back the expiry its GETEX slid: see Store.parsed), expires within
//   `ttl` of the deadline.
// The expiry is never capped at the deadline, so it always says when the session was last used
// (`listFor`'s lastSeenAt) without a write per read. The cookie's Max-Age is (see cookieLifetime).
// The rules are checked in Node (reads) and inside the Lua scripts (writes): both use this module.

/** True while a stored session is within its absolute deadline, its `m:d` field (`now`: ms since the epoch). */
export function withinDeadline (deadline: unknown, now: number): boolean {
  return Number(deadline) > now
}

/** When a session created at `created` was last used: its expiry minus its idle timeout (`ttl`, or its own: see own-cookie.ts), since every use set it that far ahead. */
export function lastSeen (created: number, expiresAt: number, ttl: number): number {
  return Math.max(created, expiresAt - ttl)
}

/**
 * The lifetime (ms, whole seconds as Max-Age carries it) of the cookie a response sends: its
 * maxAge (`cookie.maxAge` or the session's own), but no more than the `left` ms until the
 * session's absolute deadline, so that the browser drops the cookie no later than the server ends
 * the session, a "remember me" longer than `maxLifetime` included. Rounded down, never up past
 * the deadline: 0 in the session's last second (Max-Age=0, which drops the cookie).
 */
export function cookieLifetime (maxAge: number, left: number): number {
  return Math.max(0, wholeSeconds(Math.min(maxAge, left)))
}

/** The arguments that make a GETEX slide the idle expiry. */
export function slide (ttl: number): [string, number] {
  return ['PX', ttl]
}

// The same rules as Lua snippets pasted into the scripts (see scripts.ts for why snippets).

/** Lua: `local <name>` = the deadline of session table `s`, or nil. */
export const deadlineLua = (name: string, s: string): string => `local ${name} = tonumber(${s}['${META_DEADLINE}'])`

/** Lua: true when deadline `dl` (nil for a record that is not a session) is past Redis time `n`. */
export const pastDeadlineLua = (dl: string, n: string): string => `(${dl} == nil or ${dl} <= ${n})`

/** Lua: the time, as PXAT/PEXPIREAT take it, `ttl` (an ARGV) after Redis time `n`. */
export const slideAtLua = (n: string, ttl: string): string => `string.format('%d', ${n} + tonumber(${ttl}))`

/** Lua: the SET arguments that expire a key `ttl` (an ARGV) after Redis time `n`. */
export const slideLua = (n: string, ttl: string): string => `'PXAT', ${slideAtLua(n, ttl)}`

/** Lua: the deadline of a session created at Redis time `n`, `maxLifetime` (an ARGV) later. */
export const newDeadlineLua = (n: string, maxLifetime: string): string => `${n} + tonumber(${maxLifetime})`
