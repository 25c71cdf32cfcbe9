import { randomBytes } from 'node:crypto'
import { luaScript, safeJsonParse } from '@scaleout/core'
import type { Counters } from './counters.js'
import type { L1 } from './l1.js'
import { APP, isRouteId, keyOfId, ROUTE } from './key-space.js'
import { isKey, MAX_TAGS } from './options.js'
import { ReadsInFlight, type Read } from './reads.js'
import { Waiters } from './waiters.js'

// How the instances keep their L1 copies coherent: the invalidation messages (their one format,
// written and read only here), the generation rules, and what a message or a lost link does to L1.

/** A generation as INCR returns it: decimal, no leading zeros, within a signed 64-bit integer. */
export const GENERATION = /^(?:0|[1-9]\d{0,18})$/

// Generations are made from Redis's clock (ms) whenever the key is missing, and a clear moves to
// the larger of the next integer and that clock. On an allkeys-* eviction policy the key can be
// evicted like any other: starting again from 0 would bring back entries written before the
// clear()s it counted. Recreated from the clock it is at least the time of the last clear, so a
// namespace, once left, is never entered again.
const NOW_MS = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)`

const GENERATION_READ = `
local v = redis.call('GET', KEYS[1])
if v then return v end${NOW_MS}
v = string.format('%d', now)
redis.call('SET', KEYS[1], v)
return v`

// The next generation is the clock, or one more than the current one when that is not below the
// clock (several clears in one ms). A key that is not an integer gets INCR's own error. Given a
// channel (ARGV[1]) and the generation message's text before and after the generation (ARGV[2],
// ARGV[3]: see Coherence.generationMessage), the script publishes that message itself: a clear that
// times out but runs once Redis is back is then heard all the same (see SharedCache.clear).
const GENERATION_BUMP = `${NOW_MS}
local v = redis.call('GET', KEYS[1])
if v and (not string.match(v, '^%d+$') or tonumber(v) >= now) then
  v = string.format('%d', redis.call('INCR', KEYS[1]))
else
  v = string.format('%d', now)
  redis.call('SET', KEYS[1], v)
end
if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2] .. v .. ARGV[3]) end
return v`

export const GENERATION_READ_SCRIPT = luaScript('scaleoutCacheGeneration', 1, GENERATION_READ)
export const GENERATION_BUMP_SCRIPT = luaScript('scaleoutCacheBump', 1, GENERATION_BUMP)

/** Compares two generations (decimal strings without leading zeros, as INCR returns them). */
function newer (a: string, b: string): boolean {
  return a.length !== b.length ? a.length > b.length : a > b
}

/**
 * The namespace generation this instance uses. Redis alone decides it; an instance only ever
 * moves forward, so a late reply or message carrying an older one changes nothing.
 */
export class Generation {
  /** Undefined until read from Redis, and again after anything that may have missed a clear. */
  current: string | undefined
  /** The read under way, shared by concurrent first calls. */
  loading: Promise<string> | undefined
  /** How many times forget() ran: a read begun before one may answer from before a clear. */
  forgets = 0

  /** Forgets the generation: the next call reads it again (its invalidation may have been missed). */
  forget (): void {
    this.current = undefined
    this.forgets++
    // A read already under way may have left Redis before the clear: the next call asks again.
    this.loading = undefined
  }

  /** Moves to `gen` if it is newer than the one in use; true if it moved. */
  advance (gen: string): boolean {
    if (this.current !== undefined && !newer(gen, this.current)) return false
    this.current = gen
    return true
  }

  /** True if `gen` (a message's claim) is newer than the generation in use, or none is known. */
  claimsNewer (gen: string): boolean {
    return this.current === undefined || newer(gen, this.current)
  }
}

/** An invalidation: keys written or deleted, tags invalidated, or a new namespace generation. */
export interface Message {
  /** The sending cache instance: it applied the change already. */
  i: string
  /** Application keys (see key-space.ts). */
  k?: string[]
  /** Route responses' keys. */
  r?: string[]
  t?: string[]
  /** A generation Redis gave the sender; only a hint to read Redis' own (see Coherence.receive). */
  g?: string
}

// What we send is never larger: one key per write, the tags of one call (at most MAX_TAGS). A
// forged message with thousands of keys would make every instance walk them.
const MAX_ITEMS = MAX_TAGS

function strings (value: unknown): boolean {
  if (value === undefined) return true
  return Array.isArray(value) && value.length <= MAX_ITEMS && value.every(isKey)
}

/** Accepts only the messages this plugin sends; anything else on the channel is ignored. */
export function parseMessage (text: string): Message | undefined {
  let message: unknown
  try {
    message = safeJsonParse(text)
  } catch {
    return undefined
  }
  if (message === null || typeof message !== 'object') return undefined
  const m = message as Record<string, unknown>
  if (typeof m.i !== 'string' || !strings(m.k) || !strings(m.r) || !strings(m.t) || (m.g !== undefined && (typeof m.g !== 'string' || !GENERATION.test(m.g)))) return undefined
  return m as unknown as Message
}

/**
 * This instance's side of coherence: what a local change, another instance's message and a lost or
 * regained subscription do to L1, to the reads in flight and to the generation.
 */
export class Coherence {
  /** Identifies this instance's own messages. */
  readonly id = randomBytes(8).toString('base64url')
  /** Whether L1 may be used: only while invalidations are being received. */
  connected = false
  readonly reads = new ReadsInFlight()
  readonly waiters = new Waiters()

  constructor (
    private readonly l1: L1 | undefined,
    private readonly generation: Generation,
    private readonly counters: Counters
  ) {}

  /** The message telling the others that the entry `id` was written or deleted. */
  keysMessage (id: string): string {
    return JSON.stringify((isRouteId(id) ? { i: this.id, r: [keyOfId(id)] } : { i: this.id, k: [keyOfId(id)] }) satisfies Message)
  }

  tagsMessage (tags: string[]): string {
    return JSON.stringify({ i: this.id, t: tags } satisfies Message)
  }

  /**
   * The message telling the others that the namespace moved to a new generation, as the text before
   * and after the generation (digits, which JSON writes as they are): the bump script puts the
   * generation it chose between them.
   */
  generationMessage (): [string, string] {
    const empty = JSON.stringify({ i: this.id, g: '' } satisfies Message)
    return [empty.slice(0, -2), empty.slice(-2)]
  }

  /** `key` changes here: no read or write under way (but `except`, the change's own) may bring its old value back into L1. */
  dropKey (key: string, except?: Read): void {
    this.reads.overtake(key, except, true)
    this.l1?.delete(key)
  }

  /**
   * A del() of `key` here reached Redis: what was read since dropKey(), perhaps before the DEL, stays
   * out of L1. Marked stale only, not replaced: a write or a wrap() begun since came after the del.
   */
  dropKeyAgain (key: string): void {
    this.reads.overtake(key, undefined, false)
    this.l1?.delete(key)
  }

  /**
   * A write of `key` here reached Redis (or failed, and may have): as after a del(), a read begun
   * since dropKey() went on a connection of its own and may have read the old value before the
   * write, and this instance ignores its own message. That read must not put the old value in L1
   * over the new one, nor may a wrap() called from now on join it. `own`, the write's own
   * tracking, is left alone; marked stale only, not replaced (see dropKeyAgain).
   */
  writeLanded (key: string, own: Read | undefined): void {
    this.reads.overtake(key, own, false)
  }

  /**
   * How many tag invalidations and clears this instance has seen: a value computed while it moved
   * on (the route cache's, between its tag tokens and its write) may be in Redis already invalid,
   * and stays out of L1.
   */
  epoch = 0

  dropTags (tags: string[]): void {
    this.epoch++
    this.reads.overtakeAll()
    this.l1?.deleteTags(tags)
  }

  /**
   * How many times this instance dropped everything (a clear, a new generation, a lost bus link):
   * a value computed from before one belongs to no generation known now, and is not stored.
   */
  clears = 0

  dropAll (): void {
    this.clears++
    this.epoch++
    this.reads.overtakeAll()
    this.l1?.clear()
  }

  /** Applies another instance's invalidation, and wakes whoever waits for one of its keys. */
  receive (message: Message): void {
    this.counters.busMessages++
    const ids = [...(message.k ?? []).map((key) => APP + key), ...(message.r ?? []).map((key) => ROUTE + key)]
    if (message.i !== this.id) {
      if (message.g !== undefined && this.generation.claimsNewer(message.g)) this.followGeneration()
      if (message.t !== undefined) this.dropTags(message.t)
      for (const id of ids) this.dropKey(id)
    }
    for (const id of ids) this.waiters.wake(id)
  }

  /**
   * A message says the namespace moved on. Whoever can PUBLISH on the channel can say so, so the
   * message never names the generation we use: L1 is dropped at once (nothing from the old
   * generation is served once the message is in) and the next call reads the generation from Redis,
   * which alone decides it. A forged or late message can neither bring back a cleared generation
   * nor split the instances; at worst it costs a flush and one read.
   */
  private followGeneration (): void {
    this.generation.forget()
    this.dropAll()
  }

  /** A clear() of ours failed, and may run in Redis later: the generation is read again. */
  clearFailed (): void {
    this.followGeneration()
  }

  /** The subscription dropped or came back: L1 and the generation may be out of date. */
  resync (connected: boolean, counted: boolean): void {
    this.connected = connected
    this.dropAll()
    this.generation.forget()
    if (counted) this.counters.busResyncs++
  }
}
