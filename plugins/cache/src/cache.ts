import type { FastifyBaseLogger } from 'fastify'
import { LogThrottle } from '@scaleout/core'
import type { Breaker } from './breaker.js'
import type { Coherence } from './coherence.js'
import type { Counters } from './counters.js'
import { appId, logKey } from './key-space.js'
import { entryBytes, type Entry, type L1 } from './l1.js'
import { callSettings, checkKey, checkTags, type Normalized, type Settings } from './options.js'
import { Unannounced, type Admission, type Store } from './store.js'
import { InFlightMap } from './in-flight-map.js'
import type { Read } from './reads.js'
import type { CacheStats, SetOptions } from './types.js'
import { WriteOrder } from './write-order.js'

const log = { plugin: '@scaleout/cache' }

/** What a read throws for an entry it cannot read, as opposed to a Redis failure. */
const UNREADABLE = new Set<unknown>(['SCALEOUT_ERR_CACHE_CORRUPT_ENTRY', 'SCALEOUT_ERR_DECODE', 'SCALEOUT_ERR_VALUE_TOO_LARGE'])

/**
 * In place of a decoded value for store_: L1 keeps the encoded one, to decode on its first hit
 * (see fromL1). set() and route responses pass it: decoding there, not on every write, keeps a
 * write as cheap as it was for a value never read back on this instance.
 */
const UNDECODED = Symbol('undecoded')

/**
 * What became of a write: in Redis and told to the other instances; never sent (a later write of the
 * key overtook it); failed (logged: it may have reached Redis all the same, a timeout say); or in
 * Redis without the message that drops the other instances' L1 copies (see Unannounced).
 */
type Written = 'written' | 'overtaken' | 'failed' | Unannounced

/**
 * A `wrap` of one key under way in this process, and its tracking (see ReadsInFlight): once a change
 * of the key, a tag invalidation or a clear reaches this instance, it may bring back data from
 * before that change, and calls made since do not join it.
 */
interface Flight { promise: Promise<unknown>, since: Read }

/** A route response's storing, begun before its handler ran (see SharedCache.prepare). */
export interface Prepared {
  settings: Settings
  tokens: Promise<string[] | undefined>
  epoch: number
  clears: number
}

/**
 * The two tiers and the rules between them. Entries are named by their id (see key-space.ts): the
 * public methods take an application key and make its id, the route cache passes its own. Reads
 * fail open (a Redis failure is a miss); `wrap` coalesces concurrent calls per key in this process
 * and takes a Redis lease so that one instance computes while the others wait for its value.
 */
export class SharedCache {
  private seq = 0
  private readonly flights = new InFlightMap<Flight>()
  private readonly refreshing = new Set<string>()
  private readonly writes = new WriteOrder()
  /** Route responses too large (or otherwise not encodable) to store: see encodeResponse. */
  private readonly unstorable = new LogThrottle(60_000)
  /**
   * Writes that failed: while Redis is away (the breaker open, each fails at once) every request that
   * writes would log one, and the logging would become the load. Counted in stats() all the same.
   */
  private readonly storeFailures = new LogThrottle(60_000)
  /** Values returned uncached because their tag tokens could not be read: see tokensMissing. */
  private readonly tokenFailures = new LogThrottle(60_000)
  /** Entries that cannot be read: see unreadable. */
  private readonly unreadables = new LogThrottle(60_000)
  /** The settings of calls without options, shared so a hit allocates nothing. */
  private readonly defaults: Settings

  constructor (
    private readonly o: Normalized,
    private readonly store: Store,
    private readonly l1: L1 | undefined,
    private readonly coherence: Coherence,
    private readonly counters: Counters,
    private readonly breaker: Breaker | undefined,
    private readonly logger: FastifyBaseLogger
  ) {
    this.defaults = { ttlMs: o.ttlMs, staleMs: o.staleMs, tags: [] }
  }

  private settings (method: string, options: SetOptions | undefined): Settings {
    return options === undefined ? this.defaults : callSettings(method, options, this.defaults)
  }

  /**
   * The L1 copy of `key` while it may be served, fresh or stale. Only a fresh one counts as a hit: a
   * stale one is a miss (get() does not return it; wrap() serves it, counted in staleServed).
   */
  private fromL1 (key: string, now: number): Entry | undefined {
    if (this.l1 === undefined || !this.coherence.connected) return undefined
    let entry = this.l1.get(key, now)
    if (entry?.encoded !== undefined) entry = this.firstHit(key, entry)
    if (entry !== undefined && entry.expiresAt > now) this.counters.l1Hits++
    else this.counters.l1Misses++
    return entry
  }

  /**
   * The first L1 hit of a value this instance wrote: decoded once, from the very bytes a Redis read
   * would decode, then kept decoded (the bytes counted stay the encoded size, as for a read). A
   * value the codec cannot decode is dropped: a miss, as it is from Redis.
   */
  private firstHit (key: string, entry: Entry): Entry | undefined {
    try {
      entry.value = this.decode(entry.encoded as string | Buffer)
    } catch (err) {
      (this.l1 as L1).delete(key)
      this.unreadable(key, err)
      return undefined
    }
    entry.encoded = undefined
    return entry
  }

  /** Decodes an encoded value as a Redis read does: the codec gets a Buffer. */
  private decode (encoded: string | Buffer): unknown {
    return this.o.codec.decode(typeof encoded === 'string' ? Buffer.from(encoded) : encoded)
  }

  /**
   * An entry that cannot be read (garbage, another codec, larger than maxBytes): a miss, counted,
   * and logged at most once a minute. Whoever can write to Redis can plant one under a hot key,
   * and a warning per read would be theirs to multiply.
   */
  private unreadable (key: string, err: unknown): void {
    this.counters.decodeErrors++
    this.unreadables.warn(this.logger, { err, ...logKey(key), ...log }, '@scaleout/cache: unreadable entry treated as a miss')
  }

  /** Reads Redis (a failure is a miss) and keeps what it found in L1. */
  async load (key: string): Promise<Entry | undefined> {
    // Reads in flight are tracked only to keep an overtaken one out of L1: without L1, nothing to track.
    const read = this.l1 === undefined ? undefined : this.coherence.reads.start(key)
    let entry: Entry | undefined
    try {
      entry = await this.store.read(key)
    } catch (err) {
      if (UNREADABLE.has((err as { code?: unknown }).code)) {
        this.unreadable(key, err)
      } else {
        this.logger.debug({ err, ...log }, '@scaleout/cache: Redis read failed; treated as a miss')
      }
      return undefined
    } finally {
      if (read !== undefined) this.coherence.reads.end(key, read)
    }
    // A hit is a fresh value; a stale one is a miss, which wrap() may serve (see fromL1). One past
    // its stale window, that Redis still holds (written by an instance whose clock is behind, or
    // kept the few ms between the entry's times and its SET), is no value at all.
    const now = Date.now()
    if (entry !== undefined && entry.expiresAt > now) this.counters.l2Hits++
    else this.counters.l2Misses++
    if (entry === undefined || entry.staleUntil <= now) return undefined
    if (read !== undefined && this.coherence.connected && !read.stale) (this.l1 as L1).set(key, entry, now)
    return entry
  }

  /** A fresh entry from either tier, for the route cache. */
  async lookup (key: string): Promise<Entry | undefined> {
    const now = Date.now()
    const entry = this.fromL1(key, now) ?? await this.load(key)
    return entry !== undefined && entry.expiresAt > Date.now() ? entry : undefined
  }

  /**
   * Counts one more response of a route under `key` until `expiresAt`; undefined once `max` live ones
   * are stored for it, or when Redis cannot say (the response is then served uncached).
   */
  async admit (route: string, key: string, expiresAt: number, max: number): Promise<Admission | undefined> {
    try {
      return await this.store.admit(route, key, expiresAt, max)
    } catch (err) {
      this.logger.debug({ err, ...log }, '@scaleout/cache: could not count the route\'s entries; response not cached')
      return undefined
    }
  }

  /** Takes back an admission whose response was not stored, so it does not use up the route's bound. */
  async unadmit (admission: Admission): Promise<void> {
    try {
      await this.store.unadmit(admission)
    } catch (err) {
      this.logger.debug({ err, ...log }, '@scaleout/cache: could not take back a route\'s count of a response not stored; it lasts until the response\'s ttl')
    }
  }

  async get<T> (key: string): Promise<T | undefined> {
    checkKey('key', key)
    return (await this.lookup(appId(key)))?.value as T | undefined
  }

  async set (key: string, value: unknown, options?: SetOptions): Promise<void> {
    checkKey('key', key)
    const settings = this.settings('set', options)
    const id = appId(key)
    const written = await this.store_(id, UNDECODED, this.o.codec.encode(value), settings, undefined, Date.now(), undefined)
    // A message Redis refused (an error reply: a 500) is refused again for every write, and nothing
    // else tells the others: the caller must know, as for a del(). When Redis was away (a 503), the
    // others' subscriptions are on the node that failed, and losing them flushes their L1: set()
    // fails open, as for any outage, and logs.
    if (written instanceof Unannounced && (written.cause as { statusCode?: unknown }).statusCode === 500) throw written.cause
    this.announced(id, written)
  }

  /**
   * For the route cache, before its handler runs: the tag tokens its response will be stored with,
   * taken now (as wrap takes them before fn), so an invalidation while the handler runs leaves the
   * stored entry invalid. Then storePrepared() once the response is known.
   */
  prepare (options: SetOptions): Prepared {
    const settings = this.settings('set', options)
    const tokens = this.store.tagTokens(settings.tags, this.token(), settings.ttlMs + settings.staleMs).catch(() => undefined)
    return { settings, tokens, epoch: this.coherence.epoch, clears: this.coherence.clears }
  }

  /**
   * A route response encoded for storing, or undefined when the codec refuses it (larger than
   * `maxBytes`, say): counted in storeErrors, and logged at most once a minute. A client may ask for
   * such responses as often as it likes (a large page of results): none is counted toward the
   * route's bound or written, and the log is not theirs to fill.
   */
  encodeResponse (key: string, value: unknown): string | Buffer | undefined {
    try {
      return this.o.codec.encode(value)
    } catch (err) {
      this.counters.storeErrors++
      this.unstorable.warn(this.logger, { err, ...logKey(key), ...log }, '@scaleout/cache: response not cached')
      return undefined
    }
  }

  /**
   * Stores a route response (encodeResponse's) as of `now`: the time its admission was counted from
   * (see admit). False when it was not written: declined, or overtaken by a later write of the key. A
   * Redis failure once it was sent is true: it may be in Redis, and must stay counted.
   */
  async storePrepared (key: string, encoded: string | Buffer, prepared: Prepared, now: number): Promise<boolean> {
    const tokens = await prepared.tokens
    if (this.clearedSince(prepared.clears) || this.tokensMissing(key, tokens)) return false
    return this.announced(key, await this.store_(key, UNDECODED, encoded, prepared.settings, tokens, now, undefined, prepared.epoch)) !== 'overtaken'
  }

  /** A write that reached Redis without its message is logged, and counted as written. */
  private announced (key: string, written: Written): Exclude<Written, Unannounced> {
    if (!(written instanceof Unannounced)) return written
    this.logger.warn({ err: written.cause, ...logKey(key), ...log }, '@scaleout/cache: value written to Redis, but the other instances could not be told; they may serve the old value from L1 until its TTL')
    return 'written'
  }

  /**
   * Whether the tag tokens that were to be taken before the value was computed are missing (that
   * read failed). Taken now, after it, they could be the ones an invalidation while it was computed
   * made, and the value, maybe from the data before that invalidation, would be stored valid. It is
   * returned to its caller, and not stored. Without tags there is nothing to read, and never a failure.
   */
  private tokensMissing (key: string, tokens: string[] | undefined): tokens is undefined {
    if (tokens !== undefined) return false
    this.counters.storeErrors++
    this.tokenFailures.warn(this.logger, { ...logKey(key), ...log }, '@scaleout/cache: could not read the tag tokens before the value was computed; returned it uncached')
    return true
  }

  /**
   * Whether a clear() (here or, as far as this instance has heard, anywhere) came since `clears`: a
   * value computed from the data before it would be written into the new generation and served by
   * every instance for its whole TTL. It is returned to its caller, and not stored.
   */
  private clearedSince (clears: number): boolean {
    if (this.coherence.clears === clears) return false
    this.counters.storeErrors++
    this.logger.debug({ ...log }, '@scaleout/cache: the cache was cleared while a value was computed; returned it uncached')
    return true
  }

  /** A write's (or a read's) tracking for L1, from now on; none without L1. */
  private track (key: string): Read | undefined {
    return this.l1 === undefined ? undefined : this.coherence.reads.start(key)
  }

  private untrack (key: string, tracked: Read | undefined): void {
    if (tracked !== undefined) this.coherence.reads.end(key, tracked)
  }

  /**
   * Writes Redis, tells the other instances, then keeps the value in L1 (`decoded`, the codec's
   * decoding of `encoded`; or, for UNDECODED, `encoded` until its first hit), unless an
   * invalidation of the key came in meanwhile: since the write began, or since `since` (wrap's,
   * taken before its value was computed). Redis then holds something newer, or nothing, or an
   * entry its tags made invalid. A write that a later `set` or `del` of the key on this instance
   * overtook on its way to Redis is not sent at all (see WriteOrder). A Redis failure is logged; a
   * write that reached Redis without its message is left to the caller (see Written).
   */
  private async store_ (key: string, decoded: unknown, encoded: string | Buffer, s: Settings, tokens: string[] | undefined, now: number, since: Read | undefined, epoch?: number): Promise<Written> {
    // Never the caller's object (nor a Buffer the codec handed back, which may be the caller's):
    // changed after the call, or one the codec does not round-trip, it would make this instance
    // serve what no other instance, nor this one after an eviction, does.
    const held = decoded === UNDECODED
    const entry: Entry = {
      value: held ? undefined : decoded,
      encoded: !held ? undefined : typeof encoded === 'string' ? encoded : Buffer.from(encoded),
      expiresAt: now + s.ttlMs,
      staleUntil: now + s.ttlMs + s.staleMs,
      tags: s.tags,
      bytes: entryBytes(Buffer.byteLength(encoded), s.tags)
    }
    // The turn is taken before the tag tokens, when the caller called: that is the order Redis must see.
    const turn = this.writes.begin(key)
    const write = since ?? this.track(key)
    this.coherence.dropKey(key, write)
    try {
      const tagTokens = tokens ?? await this.store.tagTokens(s.tags, this.token(), s.ttlMs + s.staleMs)
      if (!await this.store.write(key, encoded, entry, tagTokens, this.coherence.keysMessage(key), () => this.writes.send(key, turn))) {
        // Overtaken by a later write of the key (whose dropKey() keeps this value out of L1 as well).
        this.logger.debug({ ...logKey(key), ...log }, '@scaleout/cache: a later set or del of the key reached Redis first; this value was not written')
        return 'overtaken'
      }
    } catch (err) {
      // Written, but not told: this L1 stays without it, as the others may hold the old value.
      if (err instanceof Unannounced) return err
      this.storeFailures.warn(this.logger, { err, ...logKey(key), ...log }, '@scaleout/cache: could not store a value in Redis; carrying on without it')
      return 'failed'
    } finally {
      this.writes.end(key)
      if (since === undefined) this.untrack(key, write)
      this.coherence.writeLanded(key, write)
    }
    if (this.l1 !== undefined && this.coherence.connected && write?.stale === false && (epoch === undefined || epoch === this.coherence.epoch)) this.l1.set(key, entry, now)
    return 'written'
  }

  private token (): string {
    return `${this.coherence.id}.${++this.seq}`
  }

  async del (key: string): Promise<void> {
    checkKey('key', key)
    await this.remove(appId(key))
  }

  private async remove (key: string): Promise<void> {
    const turn = this.writes.begin(key)
    const message = this.coherence.keysMessage(key)
    this.coherence.dropKey(key)
    try {
      await this.store.del(key, () => this.writes.send(key, turn), message)
    } finally {
      this.writes.end(key)
      // Reads go on a connection of their own: one on this instance that began after the drop above
      // may have read the key before the DEL, and this instance ignores its own message. Dropped
      // again once the DEL is done (or failed: it may have landed all the same), as clear() does.
      this.coherence.dropKeyAgain(key)
    }
  }

  async invalidateTags (tags: string[]): Promise<void> {
    checkTags(tags)
    if (tags.length === 0) return
    this.coherence.dropTags(tags)
    try {
      await this.store.invalidate(tags, this.coherence.tagsMessage(tags))
    } finally {
      // As for del(): a read, or a write's tag tokens, taken before the DELs reached Redis are
      // from before the invalidation, and no message of our own comes back to drop them.
      this.coherence.dropTags(tags)
    }
  }

  async clear (): Promise<void> {
    this.coherence.dropAll()
    try {
      await this.store.bumpGeneration(this.coherence.generationMessage())
    } catch (err) {
      // Redis away or slow (a 503): the script may still run once it is back, and this instance
      // ignores its own message. It reads the generation again instead of staying in the old
      // namespace. A refused script (a 500) is left as it is: the generation it reads may be broken.
      if ((err as { statusCode?: unknown }).statusCode === 503) this.coherence.clearFailed()
      throw err
    }
    // Reads that ran during the INCR used the old generation: they must not stay in L1.
    this.coherence.dropAll()
  }

  wrap<T> (key: string, fn: () => T | Promise<T>, options?: SetOptions): Promise<T> {
    let settings: Settings
    try {
      checkKey('key', key)
      settings = this.settings('wrap', options)
    } catch (err) {
      return Promise.reject(err)
    }
    const id = appId(key)
    const now = Date.now()
    const cached = this.fromL1(id, now)
    if (cached !== undefined) return Promise.resolve(this.serve(id, cached, now, fn, settings) as T)
    const flight = this.flights.get(id)
    if (flight !== undefined && !flight.since.stale) {
      this.counters.coalesced++
      return flight.promise as Promise<T>
    }
    // None, or one that a del(), a write, a tag invalidation or a clear overtook: its value may be
    // the very data that change removed, and this call came after it. A new flight takes its place.
    const since = this.coherence.reads.start(id)
    const promise = this.fill(id, fn, settings, since)
    this.flights.set(id, { promise, since })
    return promise as Promise<T>
  }

  private serve (key: string, entry: Entry, now: number, fn: () => unknown, s: Settings): unknown {
    if (entry.expiresAt <= now) {
      this.counters.staleServed++
      this.refresh(key, fn, s)
    }
    return entry.value
  }

  /**
   * The flight of `key`: it leaves the map as it lands (never before it is in: `load` always awaits
   * Redis), unless a newer flight has taken its place.
   */
  private async fill (key: string, fn: () => unknown, s: Settings, since: Read): Promise<unknown> {
    try {
      const entry = await this.load(key)
      if (entry !== undefined) return this.serve(key, entry, Date.now(), fn, s)
      return await this.compute(key, fn, s)
    } finally {
      this.coherence.reads.end(key, since)
      if (this.flights.get(key)?.since === since) this.flights.delete(key)
    }
  }

  /** Takes the lease or waits for its holder's value; computes anyway once `lockWait` has passed. */
  private async compute (key: string, fn: () => unknown, s: Settings): Promise<unknown> {
    const deadline = Date.now() + this.o.lockWaitMs
    const token = this.token()
    let delay = 10
    let waited = false
    for (;;) {
      let leased: boolean | undefined
      try {
        leased = await this.store.lease(key, token, this.o.lockTtlMs)
      } catch {
        leased = undefined
      }
      if (leased === true && waited) {
        // Freed since the read that found nothing: the holder may have written its value and released
        // the lease between that read and this try. Computing again would run fn twice.
        const entry = await this.load(key)
        if (entry !== undefined && entry.expiresAt > Date.now()) {
          this.release(key, token)
          return entry.value
        }
      }
      if (leased !== false) return await this.run(key, fn, s, leased === true ? token : undefined)
      if (!waited) this.counters.lockWaits++
      waited = true
      // The holder's write publishes an invalidation for this key, which ends the wait early;
      // polling covers a lost message.
      await this.coherence.waiters.wait(key, Math.max(0, Math.min(delay, deadline - Date.now())))
      delay = Math.min(delay * 2, 200)
      const entry = await this.load(key)
      if (entry !== undefined && entry.expiresAt > Date.now()) return entry.value
      if (Date.now() >= deadline) {
        this.counters.lockTimeouts++
        return await this.run(key, fn, s, undefined)
      }
    }
  }

  private async run (key: string, fn: () => unknown, s: Settings, token: string | undefined): Promise<unknown> {
    // Tracked from here, with or without L1: a del() or write of the key heard while `fn` runs marks
    // the value as older than what Redis holds now (see runTracked). Tag tokens are taken before
    // computing: an invalidation during `fn` makes the stored entry invalid, and keeps the value out
    // of this instance's L1.
    const since = this.coherence.reads.start(key)
    try {
      return await this.runTracked(key, fn, s, token, since)
    } finally {
      this.coherence.reads.end(key, since)
    }
  }

  private async runTracked (key: string, fn: () => unknown, s: Settings, token: string | undefined, since: Read): Promise<unknown> {
    const clears = this.coherence.clears
    const tokens = this.store.tagTokens(s.tags, this.token(), s.ttlMs + s.staleMs).catch(() => undefined)
    this.counters.computed++
    let value: unknown
    try {
      value = await fn()
    } catch (err) {
      if (token !== undefined) this.release(key, token)
      throw err
    }
    let encoded: string | Buffer | undefined
    try {
      encoded = this.o.codec.encode(value)
    } catch (err) {
      this.counters.storeErrors++
      this.logger.warn({ err, ...logKey(key), ...log }, '@scaleout/cache: wrap could not store the computed value; returned it uncached')
    }
    let result = value
    if (encoded !== undefined) {
      // Its callers get what a hit gives them, here and on every instance: the codec's decoding.
      const decoded = this.decodeComputed(key, encoded)
      if (decoded !== UNDECODED) result = decoded
      const taken = await tokens
      if (!this.clearedSince(clears) && !this.tokensMissing(key, taken) && !this.replacedSince(key, since) &&
        this.announced(key, await this.store_(key, decoded, encoded, s, taken, Date.now(), since)) === 'written') {
        await this.takeBackIfReplaced(key, since)
      }
    }
    if (token !== undefined) this.release(key, token)
    return result
  }

  /**
   * The codec's decoding of a computed value, or UNDECODED when it cannot decode what it encoded:
   * then every read of it is a miss (in L1 too, which keeps it encoded), and `wrap` returns the
   * value as `fn` gave it.
   */
  private decodeComputed (key: string, encoded: string | Buffer): unknown {
    try {
      return this.decode(encoded)
    } catch (err) {
      this.counters.decodeErrors++
      this.logger.warn({ err, ...logKey(key), ...log }, '@scaleout/cache: wrap could not decode the computed value; returned it as computed')
      return UNDECODED
    }
  }

  /**
   * Whether a del() or a write of `key` (here, or on another instance as far as this instance has
   * heard) came while its value was computed: the value may be from before the change (read from
   * the database before the write that the del() followed), and writing it would put the old data
   * back for its whole TTL. It is returned to its caller, and not stored.
   */
  private replacedSince (key: string, since: Read): boolean {
    if (!since.replaced) return false
    this.counters.storeErrors++
    this.logger.debug({ ...logKey(key), ...log }, '@scaleout/cache: the key was deleted or written while its value was computed; returned it uncached')
    return true
  }

  /**
   * A del() or write of `key` heard while the computed value was on its way to Redis may have
   * landed before it: the value is deleted again (a miss is always safe), and the other instances
   * told, since one may have read it meanwhile.
   */
  private async takeBackIfReplaced (key: string, since: Read): Promise<void> {
    if (!this.replacedSince(key, since)) return
    try {
      await this.remove(key)
    } catch (err) {
      this.logger.warn({ err, ...logKey(key), ...log }, '@scaleout/cache: could not delete a value overtaken while it was written; it lasts until its TTL')
    }
  }

  private release (key: string, token: string): void {
    this.store.release(key, token).catch((err: unknown) => {
      this.logger.debug({ err, ...log }, '@scaleout/cache: lease release failed; it expires on its own')
    })
  }

  /** One background refresh per key per instance, and none while another instance holds the lease. */
  private refresh (key: string, fn: () => unknown, s: Settings): void {
    if (this.refreshing.has(key)) return
    this.refreshing.add(key)
    const token = this.token()
    this.store.lease(key, token, this.o.lockTtlMs)
      .catch(() => undefined)
      .then(async (leased) => {
        if (leased !== false) await this.run(key, fn, s, leased === true ? token : undefined)
      })
      .catch((err: unknown) => {
        this.counters.refreshErrors++
        this.logger.warn({ err, ...logKey(key), ...log }, '@scaleout/cache: refresh failed; the stale value is served until its stale window ends')
      })
      .finally(() => this.refreshing.delete(key))
  }

  stats (): CacheStats {
    const c = this.counters
    return {
      l1: { enabled: this.l1 !== undefined, hits: c.l1Hits, misses: c.l1Misses, entries: this.l1?.size ?? 0, bytes: this.l1?.bytes ?? 0, evictions: this.l1?.evictions ?? 0 },
      l2: { hits: c.l2Hits, misses: c.l2Misses },
      staleServed: c.staleServed,
      coalesced: c.coalesced,
      computed: c.computed,
      lockWaits: c.lockWaits,
      lockTimeouts: c.lockTimeouts,
      refreshErrors: c.refreshErrors,
      timeouts: c.timeouts,
      redisErrors: c.redisErrors,
      skipped: c.skipped,
      storeErrors: c.storeErrors,
      decodeErrors: c.decodeErrors,
      breaker: { state: this.breaker?.state ?? 'closed', opens: this.breaker?.opens ?? 0 },
      bus: { connected: this.coherence.connected, messages: c.busMessages, resyncs: c.busResyncs, rejected: c.busRejected }
    }
  }
}
