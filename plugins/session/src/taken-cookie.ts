import { readCookie, readCookies } from '@scaleout/core'
import type { FastifyRequest } from 'fastify'
import { cookieName, isSecure } from './cookie.js'
import type { Settings } from './options.js'
import { verify, type Verified } from './signing.js'

/** What a request's Cookie header holds for the plugin: no session cookie, or its value and whether it verified. */
export interface TakenCookie {
  /** The cookie's value without `cookiePrefix` ('' when it lacks the prefix, which verifies as nothing). */
  readonly value: string
  /** Its id when the signature is one of ours; null for anything else (the response clears it). */
  readonly verified: Verified | null
}

/** Cookies of the session's name judged in one header: a browser holds a few at most (one per path and domain). */
const MAX_SAME_NAME = 4

/** The longest Cookie header a connection's memo keeps (browsers send a few hundred characters). */
export const MEMO_CHARS = 4096

/** The Cookie header and cookie name a result was taken from, on one connection. */
interface Memo {
  readonly header: string
  readonly name: string
  readonly taken: TakenCookie | undefined
}

/**
 * Reads the plugin's cookie from a Cookie header and verifies it. A browser sends the same header
 * on every request of a keep-alive connection, so the last header each connection sent is kept
 * with what it gave, and a request whose header and cookie name are exactly the same text costs
 * one comparison instead of a parse and a verification (together about 0.5 µs, measured apart).
 * Both are pure functions of those two strings and the plugin's options, so the memo can never
 * answer otherwise than they would; a connection shared by many users (a proxy's pool) just
 * misses. One entry per connection, dropped with it (a WeakMap), and one map per plugin
 * registration (its options). Only headers of up to MEMO_CHARS are kept: an idle connection then
 * holds at most that much, not a 16 KB header.
 */
export function cookieTaker (settings: Settings): (request: FastifyRequest, header: string) => TakenCookie | undefined {
  const last = new WeakMap<object, Memo>()
  const taken = (cookie: string): TakenCookie => {
    const value = cookie.startsWith(settings.cookiePrefix) ? cookie.slice(settings.cookiePrefix.length) : ''
    return { value, verified: verify(value, settings.secrets) }
  }
  const take = (header: string, name: string): TakenCookie | undefined => {
    const cookie = readCookie(header, name)
    if (cookie === undefined) return undefined
    const first = taken(cookie)
    if (first.verified !== null) return first
    // A browser sends every cookie of the name whose path and domain match, the longest path first:
    // without the __Host- prefix, a sibling subdomain (or a page on plain HTTP) can set a garbage
    // one on a longer path, which would log the user out on every request, and the Set-Cookie that
    // clears ours cannot reach it. So the first of them that verifies is the session.
    for (const other of readCookies(header, name, MAX_SAME_NAME).slice(1)) {
      const next = taken(other)
      if (next.verified !== null) return next
    }
    return first
  }
  return (request, header) => {
    const name = cookieName(settings.cookie, isSecure(settings.cookie, request))
    // Injected requests (light-my-request) have a socket of their own each; a stream may have none.
    const socket = request.raw.socket as object | null | undefined
    if (socket == null || header.length > MEMO_CHARS) return take(header, name)
    const memo = last.get(socket)
    if (memo !== undefined && memo.header === header && memo.name === name) return memo.taken
    const taken = take(header, name)
    last.set(socket, { header, name, taken })
    return taken
  }
}
