import { luaScript, senderFor, ValueTooLargeError, type RedisClient, type ResolvedRedis, type Sender, type SizedCodec } from '@scaleout/core'
import { GENERATION, GENERATION_BUMP_SCRIPT, GENERATION_READ_SCRIPT, type Generation } from './coherence.js'
import { CorruptEntryError } from './errors.js'
import type { Guard } from './guard.js'
import { keyOfId } from './key-space.js'
import { isKey, MAX_KEY, MAX_TAGS } from './options.js'
import { entryBytes, type Entry } from './l1.js'

// A tag's current token, created when missing. Its TTL only ever grows (GT), so it outlives every
// entry that recorded it; if it is evicted anyway those entries turn invalid, never valid again.
const TAG_TOKEN = `
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
redis.call('PEXPIRE', KEYS[1], ARGV[2], 'GT')
return v`

// Only the lease's owner may end it: a slow owner whose lease expired must not free a new owner's.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

// Admits one more entry of a route unless it already holds `max` live ones (members scored by
// their expiry, dropped once past). An entry already admitted may always be written again. The
// set lives as long as its longest entry. Returns 0 when refused, else the entry's previous score
// ('' for a new one), for UNADMIT.
const ADMIT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local previous = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not previous and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return previous or ''`

// Takes back an admission whose entry was not written: the member leaves, or gets its previous
// score back, unless another admission of it (another instance's, say) has scored it since.
const UNADMIT = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
return 1`

const TAG_TOKEN_SCRIPT = luaScript('scaleoutCacheTagToken', 1, TAG_TOKEN)
const RELEASE_SCRIPT = luaScript('scaleoutCacheRelease', 1, RELEASE)
const ADMIT_SCRIPT = luaScript('scaleoutCacheAdmit', 1, ADMIT)
const UNADMIT_SCRIPT = luaScript('scaleoutCacheUnadmit', 1, UNADMIT)
const SCRIPTS = [TAG_TOKEN_SCRIPT, RELEASE_SCRIPT, ADMIT_SCRIPT, UNADMIT_SCRIPT, GENERATION_READ_SCRIPT, GENERATION_BUMP_SCRIPT]

/**
 * A route entry counted among its route's live ones (see Store.admit): its score, and the score it
 * had before ('' when it was not counted), to take the count back if the entry is not written.
 */
export interface Admission { set: string, member: string, score: number, previous: string }

/**
 * A write whose entry reached Redis, but whose message telling the other instances (to drop their
 * L1 copies) could not be sent: `cause` is the coded Redis error.
 */
export class Unannounced {
  constructor (readonly cause: unknown) {}
}

const NEWLINE = 10
// A tag token: the writing instance's id, a dot and a sequence number (see SharedCache.token).
const MAX_TOKEN = 64
// The longest header a write makes: two times, then up to MAX_TAGS tags of MAX_KEY UTF-16 units
// (6 bytes each at worst in JSON: a control character is written \u00XX) with their tokens.
const MAX_HEADER = 64 + MAX_TAGS * (6 * MAX_KEY + MAX_TOKEN + 6)
// The tags of every untagged entry read: one array, only ever read.
const NO_TAGS: string[] = []

/**
 * The Redis tier. Keys: `<base><generation>:<id>` for entries (`e:<key>` for the application's,
 * `r:<key>` for route responses: see key-space.ts), `<base><generation>:l:<key>` for the fill
 * leases of `wrap` (application keys only), `<base><generation>:n:<route>` for a route's live
 * entries, `<base>t:<tag>` for tag tokens, `<base>gen` for the namespace generation. No command
 * touches two keys, so nothing can fail with CROSSSLOT on a Cluster.
 *
 * An entry is `[expiresAt, staleUntil, [tag, token, ...]]\n<encoded value>`: it is valid only while
 * every tag token it recorded is still the tag's current one, so invalidating a tag is one DEL.
 */
export class Store {
  private readonly client: RedisClient
  /** Runs the scripts within the cache's timeout, the core's one way for every plugin. */
  private readonly send: Sender
  readonly channel: string

  constructor (
    client: RedisClient,
    owned: boolean,
    private readonly base: string,
    private readonly codec: SizedCodec,
    private readonly guard: Guard,
    private readonly gen: Generation,
    duplicate?: ResolvedRedis['duplicate']
  ) {
    this.client = client
    this.send = senderFor(client, owned, guard.timeoutMs, SCRIPTS, duplicate)
    this.channel = `${base}bus`
  }

  /** Waits, at most `ms`, for the connection the request path uses (see the core's senderFor). */
  async connected (ms: number): Promise<void> {
    await this.send.connected(ms)
  }

  private async generation (): Promise<string> {
    // Concurrent first calls share one read.
    if (this.gen.loading === undefined) {
      const loading = this.loadGeneration()
      this.gen.loading = loading
      // Only its own: forget() may have let a newer read begin meanwhile.
      loading.finally(() => { if (this.gen.loading === loading) this.gen.loading = undefined }).catch(() => {})
    }
    return await this.gen.loading
  }

  private async loadGeneration (): Promise<string> {
    const forgets = this.gen.forgets
    const gen = await this.guard.call(async () => await this.send.script<string>(GENERATION_READ_SCRIPT, [`${this.base}gen`], []))
    if (!GENERATION.test(gen)) throw new CorruptEntryError(JSON.stringify(`${this.base}gen`))
    // Forgotten since it left (a clear heard of, a resync): the reply may be from before that
    // clear. Kept, it would put this instance back in the cleared namespace until the next clear.
    // The call that asked still uses it (it began before the clear, and everything it brings back
    // is kept out of L1); the next call reads again.
    if (this.gen.forgets !== forgets) return this.gen.current ?? gen
    this.gen.advance(gen)
    return this.gen.current as string
  }

  /** The Redis key of `name` within the current generation: an entry's id, or `l:`/`n:` and a key. */
  private async keyOf (name: string): Promise<string> {
    return `${this.base}${this.gen.current ?? await this.generation()}:${name}`
  }

  private tagKey (tag: string): string {
    return `${this.base}t:${tag}`
  }

  /** The entry `id` if present and still valid for its tags; throws on Redis errors and garbage. */
  async read (id: string): Promise<Entry | undefined> {
    // The generation is known after the first read: no await (and no microtask) to build the key.
    const gen = this.gen.current
    const entryKey = gen !== undefined ? `${this.base}${gen}:${id}` : await this.keyOf(id)
    // Sent as the session sends (the core's sender: one bare command, corked writes, one deadline
    // queue), so the guard adds no timer of its own.
    const raw = await this.guard.sent(() => this.send.getBuffer(entryKey))
    if (raw === null) return undefined
    // Bounded before anything is parsed or decoded: Redis is shared, and an entry planted there (or
    // written with a larger maxBytes) must not cost a decode, nor a place in L1, past the limits
    // every write keeps to, nor one GET per tag of a header no write could have made.
    const end = raw.indexOf(NEWLINE)
    if (end > MAX_HEADER) throw new CorruptEntryError(JSON.stringify(entryKey))
    if (end >= 0 && raw.length - end - 1 > this.codec.maxBytes) throw new ValueTooLargeError(raw.length - end - 1, this.codec.maxBytes)
    const header = parseHeader(entryKey, raw, end)
    const pairs = header[2]
    if (pairs === undefined) return { value: this.codec.decode(raw.subarray(end + 1)), encoded: undefined, expiresAt: header[0], staleUntil: header[1], tags: NO_TAGS, bytes: raw.length - end - 1 }
    const current = await this.guard.sent(async () => await Promise.all(
      pairs.filter((_, i) => i % 2 === 0).map(async (tag) => await this.send.command<string | null>('get', [this.tagKey(tag)]))))
    const tags: string[] = []
    for (let i = 0; i < current.length; i++) {
      if (current[i] !== pairs[2 * i + 1]) return undefined
      tags.push(pairs[2 * i] as string)
    }
    return { value: this.codec.decode(raw.subarray(end + 1)), encoded: undefined, expiresAt: header[0], staleUntil: header[1], tags, bytes: entryBytes(raw.length - end - 1, tags) }
  }

  /** Current tokens of `tags` (created when missing), kept alive for at least `ttlMs`. */
  async tagTokens (tags: string[], candidate: string, ttlMs: number): Promise<string[]> {
    if (tags.length === 0) return []
    return await this.guard.call(async () => await Promise.all(
      tags.map(async (tag) => await this.send.script<string>(TAG_TOKEN_SCRIPT, [this.tagKey(tag)], [candidate, ttlMs]))))
  }

  /**
   * Writes the entry `id`, then tells the other instances (`message`) once it is in place; false, with
   * nothing sent, when `inTurn` says a later write of the entry went out first (see WriteOrder).
   * Throws the coded Redis error when the entry may not have been written, and an Unannounced when
   * it was but the message could not be sent.
   */
  async write (id: string, encoded: string | Buffer, entry: Entry, tokens: string[], message: string, inTurn: () => boolean): Promise<boolean> {
    const pairs = tokens.length === 0 ? undefined : entry.tags.flatMap((tag, i) => [tag, tokens[i] as string])
    const header = JSON.stringify(pairs === undefined ? [entry.expiresAt, entry.staleUntil] : [entry.expiresAt, entry.staleUntil, pairs]) + '\n'
    const raw = typeof encoded === 'string' ? header + encoded : Buffer.concat([Buffer.from(header), encoded])
    const client = this.client
    return await this.inTurn(id, inTurn, async (entryKey) => {
      const ttlMs = Math.max(1, entry.staleUntil - Date.now())
      let published: Promise<unknown>
      if (client.isCluster) {
        // The channel and the entry may live on different nodes: publish only once the write is done,
        // or a woken reader could read the old value and keep it in L1.
        await this.guard.call(async () => await client.set(entryKey, raw, 'PX', ttlMs))
        published = this.publish(message)
      } else {
        // One connection executes in order: sent together, the SET still lands before the PUBLISH.
        let publishing: Promise<unknown> = Promise.resolve()
        await this.guard.call(async () => {
          const set = client.set(entryKey, raw, 'PX', ttlMs)
          publishing = client.publish(this.channel, message)
          // Awaited below, unless the SET failed: then the write is not known to be in place.
          publishing.catch(() => {})
          return await set
        })
        published = this.guard.call(async () => await publishing)
      }
      try {
        await published
      } catch (err) {
        throw new Unannounced(err)
      }
      return true
    }) === true
  }

  /**
   * Deletes the entry `id` and tells the other instances (`message`). When `inTurn` says a later
   * write of it went out first, only the message goes: the later write overwrote or deleted the
   * entry already, and its own message follows this one.
   */
  async del (id: string, inTurn: () => boolean, message: string): Promise<void> {
    const client = this.client
    const entryKey = await this.keyOf(id)
    // Asked in the same synchronous step as the DEL is sent (see WriteOrder.send).
    const command = inTurn()
      ? async () => await client.del(entryKey)
      /* c8 ignore next -- a later write sent first: it must learn the generation before this one, which its reads on the same connection, in order, do not let a test arrange */
      : async () => {}
    await this.thenPublish(message, command)
  }

  /**
   * Sends an invalidation (`command`), then its message. A command that fails, a timeout say, may
   * still run in Redis once it is back: its message must follow it there, or the other instances
   * keep their L1 copies of what it removed until their TTL. On one connection both go out
   * together, so the message runs whenever the command does. On a Cluster they may live on
   * different nodes: the message waits for the command, and is sent all the same if it failed.
   */
  private async thenPublish (message: string, command: () => Promise<unknown>): Promise<void> {
    const client = this.client
    if (client.isCluster) {
      await this.guard.call(command).then(async () => await this.publish(message), async (err: unknown) => {
        // Awaited settled: its own failure would only hide the command's, the one to report.
        await Promise.allSettled([this.publish(message)])
        throw err
      })
      return
    }
    let publishing: Promise<unknown> = Promise.resolve()
    await this.guard.call(async () => {
      const done = command()
      publishing = client.publish(this.channel, message)
      // Awaited below, unless the command failed: its own error is the one to report.
      publishing.catch(() => {})
      return await done
    })
    await this.guard.call(async () => await publishing)
  }

  /**
   * Sends a write of the entry `id` if `inTurn()`, asked once its Redis key is known (that may
   * wait for the generation) and in the same synchronous step as the command goes out: guard.call
   * sends at once, so no later write can slip in between.
   */
  private async inTurn<T> (id: string, inTurn: () => boolean, send: (entryKey: string) => Promise<T>): Promise<T | undefined> {
    const entryKey = await this.keyOf(id)
    return inTurn() ? await send(entryKey) : undefined
  }

  /** One DEL per tag, each a single-key command in the tag's own slot, then `message` (see thenPublish). */
  async invalidate (tags: string[], message: string): Promise<void> {
    const client = this.client
    await this.thenPublish(message, async () => await Promise.all(tags.map(async (tag) => await client.del(this.tagKey(tag)))))
  }

  /**
   * Moves the namespace to a new generation (every older entry is unreachable and expires on its
   * own), and tells the other instances with the message `[before, after]` the generation. On one
   * connection the script publishes the message itself, so it is heard whenever the move happens,
   * even after a timeout. On a Cluster the channel may live on another node: the message follows
   * the script.
   */
  async bumpGeneration ([before, after]: [string, string]): Promise<string> {
    const inScript = this.client.isCluster ? ['', '', ''] : [this.channel, before, after]
    const forgets = this.gen.forgets
    // Redis decides: two racing clears get two different generations, and every instance ends on the larger.
    const gen = await this.guard.call(async () => await this.send.script<string>(GENERATION_BUMP_SCRIPT, [`${this.base}gen`], inScript))
    // A racing clear's message heard meanwhile (it may come before our own reply) made this
    // instance forget: the next call reads the larger one, ours is not put back (see loadGeneration).
    if (this.gen.forgets === forgets) this.gen.advance(gen)
    if (this.client.isCluster) await this.publish(before + gen + after)
    return gen
  }

  /** True if this token now holds the fill lease of `id` (only `wrap`, on application keys, takes one). */
  async lease (id: string, token: string, ttlMs: number): Promise<boolean> {
    const leaseKey = await this.keyOf('l:' + keyOfId(id))
    return await this.guard.call(async () => await this.client.set(leaseKey, token, 'PX', ttlMs, 'NX')) === 'OK'
  }

  async release (id: string, token: string): Promise<void> {
    const leaseKey = await this.keyOf('l:' + keyOfId(id))
    await this.guard.call(async () => await this.send.script(RELEASE_SCRIPT, [leaseKey], [token]))
  }

  /**
   * Counts `member` among the live entries of `set`, bounded by `max`, until `expiresAt`, the time
   * its entry leaves Redis; undefined when the set is full.
   */
  async admit (set: string, member: string, expiresAt: number, max: number): Promise<Admission | undefined> {
    const setKey = await this.keyOf('n:' + set)
    const now = Date.now()
    const previous = await this.guard.call(async () => await this.send.script<string | number>(ADMIT_SCRIPT, [setKey], [member, now, expiresAt, max, expiresAt - now]))
    return typeof previous === 'string' ? { set: setKey, member, score: expiresAt, previous } : undefined
  }

  /** Takes back an admission whose entry was not written (see UNADMIT). */
  async unadmit (a: Admission): Promise<void> {
    await this.guard.call(async () => await this.send.script(UNADMIT_SCRIPT, [a.set], [a.member, a.score, a.previous]))
  }

  /** A message on a Cluster, where the channel's node may not be the entry's (see thenPublish). */
  private async publish (message: string): Promise<void> {
    const client = this.client
    await this.guard.call(async () => await client.spublish(this.channel, message))
  }
}

type Header = [number, number, string[]?]

/** The header of the entry at `entryKey`, before the first newline (`end`); throws on anything else. */
function parseHeader (entryKey: string, raw: Buffer, end: number): Header {
  let header: unknown
  try {
    header = JSON.parse(raw.toString('utf8', 0, end))
  } catch {}
  if (end < 0 || !isHeader(header)) throw new CorruptEntryError(JSON.stringify(entryKey))
  return header
}

function isHeader (value: unknown): value is Header {
  if (!Array.isArray(value) || typeof value[0] !== 'number' || typeof value[1] !== 'number') return false
  if (value.length === 2) return true
  const pairs = value[2] as unknown
  return value.length === 3 && Array.isArray(pairs) && pairs.length % 2 === 0 && pairs.length > 0 && pairs.length <= 2 * MAX_TAGS &&
    pairs.every((p, i) => i % 2 === 0 ? isKey(p) : typeof p === 'string' && p.length > 0 && p.length <= MAX_TOKEN)
}
