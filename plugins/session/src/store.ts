import type { FastifyBaseLogger } from 'fastify'
import { isUnavailable, senderFor, taggedKey, type LuaScript, type RedisClient, type ResolvedRedis, type Sender } from '@scaleout/core'
import { SessionNotDurableError, SessionUnavailableError } from './errors.js'
import { slide, withinDeadline } from './expiry.js'
import { BLOCK, META_DEADLINE, META_NEXT, META_USER } from './fields.js'
import { fieldOf, StoredValues, type Stored, type StoredMeta } from './stored.js'
import { idleOf, META_OWN, readOwn, type Own } from './own-cookie.js'
import { RECENT_SESSIONS, RecentSessions } from './recent.js'
import { digest, slotTag } from './signing.js'
import type { Durable, Settings } from './options.js'
import { fragment, type WritePlan } from './log.js'
import { CHECK_SCRIPT, COMPACT_SCRIPT, CREATE_SCRIPT, DESTROY_ALL_SCRIPT, DESTROY_SCRIPT, INDEX_SCRIPT, PRUNE_SCRIPT, WRITE_SCRIPT } from './scripts.js'

export interface Loaded {
  /** Encoded values by session key. */
  data: StoredValues
  /** The user id the session is indexed under, if any. */
  user: string | undefined
  /** The session's own cookie attributes (see own-cookie.ts). */
  own: Own
  /** The idle time the read slid the session's expiry by (see idleHint). */
  slid: number
}

/** A GETEX on its way (shared by the requests of a turn, see Store.read), and the idle time it slides the session by. */
export interface PendingLoad {
  stored: Promise<Stored | null>
  slid: number
}

/** What Store.create resolves to when another request's regenerate() replaced the old session first. */
export const MOVED = -1

/**
 * What a write did. `status`: positive when written, 0 when the session no longer exists, or minus
 * the data size when that would pass `maxBytes` (nothing written). `logBytes`: the stored text's
 * new length when the write knows it (null: the next write merges).
 */
export interface Written {
  status: number
  logBytes: number | null
  /** With status 0: the fragment landed on a record (another request's regenerate() left it), not on nothing. */
  moved?: true
}

/** Which user indexes a save must change: add the session to one, remove it from another. */
export interface UserChange {
  add: string | undefined
  remove: string | undefined
}

/** The part of a session's key after its prefix and slot tag: what a forwarding record holds. */
function afterTag (id: string): string {
  return id.slice(slotTag(id).length)
}

/** A write that changes whose session it is. */
function isLogin (change: UserChange): boolean {
  return change.add !== undefined || change.remove !== undefined
}

/** Redis errors on the request path become SCALEOUT_ERR_SESSION_UNAVAILABLE; others pass through. */
export function unavailable (err: unknown): Error {
  if (!isUnavailable(err)) return err as Error
  const coded = new SessionUnavailableError()
  coded.cause = err
  return coded
}

function ignore (): void {}

/** A call's rejection handler: rethrows as unavailable() codes it. */
function rethrowUnavailable (err: unknown): never {
  throw unavailable(err)
}

export class Store {
  private readonly settings: Settings
  /** Standalone and Sentinel: one script may touch the session and the user index together. */
  private readonly inline: boolean

  /** Sends each call within `timeout` (see the core's senderFor). */
  private readonly send: Sender

  /**
   * This turn's loads, by session id, that later requests in the same turn may share: a Map of its
   * own for each event-loop turn that reads (null between). Not one Map cleared every turn: once a
   * full GC had moved that Map to the old generation, V8 made each table that clear() put in its
   * place in the old generation too, and kept each table cleared away linked to its successor,
   * with the turn's loads it held. Dead but not yet collected, those tables kept every load since
   * alive through each young collection (reply texts, parsed sessions), which copied them to the
   * old generation. On the session-modify benchmark, this and the same with the recent texts'
   * order (see recent.ts) promoted 1.3 MB per young collection from the first full GC on, instead
   * of about 115 KB, with pauses two to five times longer.
   */
  private pendingLoads: Map<string, PendingLoad> | null = null
  private readonly endSharing = (): void => { this.pendingLoads = null }
  /** The texts of sessions read lately, parsed: a read parses only what was appended since (see recent.ts). */
  private readonly recent = new RecentSessions()
  /**
   * The Redis keys of the sessions used lately, by id. Built anew on every use, a key is a new
   * concatenation that V8 flattens again to write it: about 0.27 µs a use, measured apart, and a
   * modification uses it twice. As many as the recent texts; emptied when full (a busy instance
   * then builds each key once more), and unchanged while the same sessions come back.
   */
  private readonly keys = new Map<string, string>()

  /** The client, for checks that must reach every node (see eviction.ts). */
  readonly client: RedisClient

  /** Where a failure that fails no request is told (see evict). */
  private readonly log: FastifyBaseLogger

  /** `duplicate`: a connection of the sender's own (see the core's senderFor). */
  constructor (client: RedisClient, owned: boolean, settings: Settings, log: FastifyBaseLogger, duplicate?: ResolvedRedis['duplicate']) {
    this.client = client
    this.settings = settings
    this.log = log
    this.inline = !client.isCluster
    this.send = senderFor(client, owned, settings.timeout, [WRITE_SCRIPT, CHECK_SCRIPT, COMPACT_SCRIPT, CREATE_SCRIPT, DESTROY_SCRIPT, INDEX_SCRIPT, DESTROY_ALL_SCRIPT, PRUNE_SCRIPT], duplicate)
  }

  /** Waits, at most `ms`, for the connection the request path uses (see the core's senderFor). */
  async connected (ms: number): Promise<void> {
    await this.send.connected(ms)
  }

  sessionKey (id: string): string {
    let key = this.keys.get(id)
    if (key === undefined) {
      key = taggedKey(this.settings.prefix, slotTag(id), afterTag(id))
      if (this.keys.size >= RECENT_SESSIONS) this.keys.clear()
      this.keys.set(id, key)
    }
    return key
  }

  /** How many session keys are kept (for tests: the map must stay bounded). */
  get keptKeys (): number {
    return this.keys.size
  }

  indexKey (user: string): string {
    return taggedKey(this.settings.prefix + 'user:', user)
  }

  /** Redis being away becomes SCALEOUT_ERR_SESSION_UNAVAILABLE. */
  guard<T> (operation: Promise<T>): Promise<T> {
    return this.call(operation)
  }

  /** Redis being away becomes SCALEOUT_ERR_SESSION_UNAVAILABLE. */
  private call<T> (operation: Promise<T>): Promise<T> {
    return operation.then(undefined, rethrowUnavailable)
  }

  /**
   * A script that changes a session. With `durable`, WAIT follows it on the same connection, in
   * the same write: WAIT counts the replicas that acknowledged every write sent before it on that
   * connection, so fewer than asked means the change could be lost on a failover, and the caller
   * gets a 503 rather than a change that may not last. `login`: the change logs in or out (a
   * regenerate, a destroy, or a change of user), which `writes: 'logins'` limits WAIT to.
   */
  private change<T> (script: LuaScript, keys: string[], args: Array<string | number>, login: boolean): Promise<T> {
    const durable = this.settings.durable
    if (durable === null || (durable.writes === 'logins' && !login)) return this.call(this.send.script<T>(script, keys, args))
    return this.call(this.send.scriptThen<T, number>(script, keys, args, ['wait', [durable.replicas, durable.timeout]])).then(([reply, acked]) => {
      if (acked < durable.replicas) throw new SessionNotDurableError(acked, durable.replicas, durable.timeout)
      return reply
    })
  }

  /** One command, within `timeout`; its reply as text (numbers for integer replies). */
  command<T> (name: string, args: Array<string | number>): Promise<T> {
    return this.call(this.send.command<T>(name, args))
  }

  /**
   * One GETEX reads the session and slides its idle expiry. Requests for the same session that
   * arrive in the same event-loop turn share it (until setImmediate). That is safe: each of them
   * was sent by its client before this turn began, so any write it could know of had completed
   * before then, and the shared GETEX was sent during the turn, after it. A browser's burst of
   * parallel requests on one session then costs Redis one read, at no added latency. What it
   * found becomes each request's own with view().
   */
  read (id: string): PendingLoad {
    let loads = this.pendingLoads
    if (loads === null) {
      loads = this.pendingLoads = new Map()
      setImmediate(this.endSharing)
    }
    let pending = loads.get(id)
    if (pending === undefined) {
      const slid = this.idleHint(id)
      // One step from the reply to the parsed session (a promise hop less on every request than call() then parse).
      const stored = this.send.command<string | null>('getex', [this.sessionKey(id), ...slide(slid)]).then((text) => this.parsed(id, text), rethrowUnavailable)
      pending = { stored, slid }
      loads.set(id, pending)
    }
    return pending
  }

  /**
   * What a read found, parsed. A session past its absolute deadline reads as gone (see view), but
   * its GETEX slid its expiry all the same: a client replaying the cookie would keep it in Redis
   * for ever. So its expiry is put back where it was when the deadline passed, at the latest (the
   * deadline plus its idle time, by the clock that stamped the deadline: PEXPIREAT of a past time
   * deletes the key). Only after such a read; a record has no deadline and is left alone. A failure
   * is ignored: the session reads as gone anyway, and the next read tries again.
   */
  private parsed (id: string, text: string | null): Stored | null | Promise<Stored | null> {
    const stored = this.recent.read(id, text)
    if (stored === null) return null
    const { deadline, idle } = this.metaOf(stored)
    if (!(deadline <= Date.now())) return stored
    const done = (): Stored => stored
    return this.send.command('pexpireat', [this.sessionKey(id), deadline + idle]).then(done, done)
  }

  /** A read's session as one request's own view; null when there is none, or it is past its absolute deadline. */
  view (stored: Stored | null, slid: number): Loaded | null {
    if (stored === null) return null
    const meta = this.metaOf(stored)
    if (!withinDeadline(meta.deadline, Date.now())) return null
    // A view of its own for each request: the parsed fields are shared, what it writes is not.
    return { data: new StoredValues(stored), user: meta.user, own: meta.own, slid }
  }

  /** Whether a read found a forwarding record: another request's regenerate() moved the session (see CREATE). */
  moved (stored: Stored | null): boolean {
    return stored !== null && typeof fieldOf(stored, META_NEXT) === 'string'
  }

  /**
   * What a read checks of a stored text, taken from its fields the first time and kept with it: a
   * session read again finds the very text an instance keeps (see recent.ts), so its deadline,
   * user and own attributes are looked up and converted once, not on every request.
   */
  private metaOf (stored: Stored): StoredMeta {
    if (stored.meta === null) {
      const user = fieldOf(stored, META_USER)
      const own = readOwn(this.settings, fieldOf(stored, META_OWN))
      stored.meta = { deadline: Number(fieldOf(stored, META_DEADLINE)), user: typeof user === 'string' ? user : undefined, own, idle: idleOf(this.settings, own) }
    }
    return stored.meta
  }

  /**
   * What a read slides a session's expiry by: its own idle time (a cookie Max-Age of its own) as
   * this instance last parsed the session, else ttl. The text read then decides: a session whose
   * idle time is not what the read slid by gets one PEXPIRE more (see state.ts), as every session
   * with its own idle time would without this, so a remember-me session read again by an instance
   * costs one command, not two.
   */
  private idleHint (id: string): number {
    const kept = this.recent.kept(id)
    return kept === undefined ? this.settings.ttl : this.metaOf(kept).idle
  }

  /**
   * Index keys and flags for a script call. Keys a call does not use are the session key again,
   * so the key count stays fixed and, on a Cluster, every key is in the session's slot.
   */
  private indexArgs (sessionKey: string, change: UserChange): { keys: [string, string], flags: [string, string] } {
    const add = this.inline && change.add !== undefined
    const remove = this.inline && change.remove !== undefined
    return {
      keys: [add ? this.indexKey(change.add as string) : sessionKey, remove ? this.indexKey(change.remove as string) : sessionKey],
      flags: [add ? '1' : '0', remove ? '1' : '0']
    }
  }

  /**
   * On a Cluster the index is in the user's slot, so adding to it is a second call, sent alongside
   * the session's own (one round trip of waiting). If the session call then finds the session
   * gone, the entry is stale, and `listFor` prunes it, as it prunes entries of removed users.
   */
  private async indexAlongside (change: UserChange, id: string): Promise<string[]> {
    if (this.inline || change.add === undefined) return []
    return await this.call(this.send.script<string[]>(INDEX_SCRIPT, [this.indexKey(change.add)], [id, this.settings.maxLifetime, this.settings.maxSessionsPerUser]))
  }

  /**
   * The session's own call `own` and the index call alongside it (see indexAlongside), waited for
   * together. When the index call fails (the user's master away or refusing) while the session's
   * call landed a login (`landed`), the session would be logged in and in no index, where
   * destroyAllFor never finds it; a login by setting the user key keeps the id the browser holds,
   * so it would be in use too. It is ended before the index call's failure is thrown (a failure to
   * end it is thrown in its place).
   */
  private async alongside<T> (own: Promise<T>, change: UserChange, id: string, landed: (reply: T) => boolean): Promise<[T, string[]]> {
    const [mine, index] = await Promise.allSettled([own, this.indexAlongside(change, id)])
    if (mine.status === 'rejected') throw mine.reason
    if (index.status === 'rejected') {
      if (landed(mine.value)) await this.destroy(id, undefined)
      throw index.reason
    }
    return [mine.value, index.value]
  }

  /**
   * Ends the sessions a login pushed past `maxSessionsPerUser`, the oldest entries of the user's
   * index (see indexAdd), then unlists them: a session is never alive and out of its user's index,
   * where destroyAllFor would not find it. Each is destroyed as destroyAllFor destroys one, except
   * that a forwarding record is left alone (see DESTROY_ALL). Only once the login has landed: a
   * login that failed ends nobody. Never rejects: the login is in Redis by then, and failing its
   * request would withhold the new session's cookie (the old one's session already replaced), so
   * a failure is logged instead. Only the sessions that were ended are unlisted; the others stay
   * listed for the next login, listFor and destroyAllFor to end.
   */
  private async evict (user: string, own: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return
    try {
      const results = await Promise.allSettled(ids.map(async (id) => await this.destroyAll(id, user, [own], false)))
      await this.prune(user, ids.filter((_, i) => results[i]?.status === 'fulfilled'), [])
      const failed = results.find((result) => result.status === 'rejected')
      if (failed !== undefined) throw failed.reason
    } catch (err) {
      this.log.error({ err, session: digest(own), over: ids.map(digest) }, '@scaleout/session: a login past maxSessionsPerUser could not end the sessions over the bound; they stay in the user index, for listFor, destroyAllFor and the next login to end')
    }
  }

  /**
   * Writes changed fields of an existing session (see Written for what it resolves to). `plan`:
   * how the write may go without a merge (see log.ts); null to merge. `before`: the values the
   * changed data fields had, as a JSON object (see CHECK in scripts.ts). `idle`: the session's
   * idle time, which a merging write slides it by.
   */
  write (id: string, sets: string[], deletes: string[], change: UserChange, plan: WritePlan | null, before: () => string, idle: number): Promise<Written> {
    const key = this.sessionKey(id)
    if (plan === null || isLogin(change)) return this.merge(id, key, sets, deletes, change, plan, idle)
    const text = fragment(sets, deletes)
    if (plan.compacted !== null) return this.compact(key, plan.compacted, text, plan.length, before)
    const { durable } = this.settings
    if (durable !== null && durable.writes !== 'logins') return this.appendDurably(durable, id, key, text, plan, sets, deletes, before, idle)
    // The common write: the APPEND's reply taken in one promise step (the request waits on it).
    const appending = this.send.command<number>('append', [key, text])
    this.expireBehind(key, idle)
    return appending.then((now) => this.appended(id, key, text, plan, now, sets, deletes, before), rethrowUnavailable)
  }

  /**
   * A PEXPIRE right behind an APPEND, in the same write on the same connection. An APPEND to a
   * session gone since the request read it (destroyed, expired) makes the key again with no
   * expiry; landed() deletes it on seeing the reply, but a reply that never comes (Redis paused
   * past `timeout`, a dropped connection) or a DEL that fails would leave it in Redis for ever.
   * It slides the session by its idle time, as the read just before did. Its outcome is the
   * APPEND's: a failure is that call's to report.
   */
  private expireBehind (key: string, idle: number): Promise<unknown> {
    return this.send.command('pexpire', [key, idle]).then(undefined, ignore)
  }

  /**
   * A write that merges in a script (WRITE in scripts.ts). Told to merge without a login: the
   * text's length is unknown (or it is due for compaction after this request wrote to it, or the
   * session's own cookie attributes changed, whose idle time an append would leave unset), so the
   * merge rewrites it and no fragment is sent.
   */
  private async merge (id: string, key: string, sets: string[], deletes: string[], change: UserChange, plan: WritePlan | null, idle: number): Promise<Written> {
    const login = isLogin(change)
    const text = plan === null && !login ? '' : fragment(sets, deletes)
    const { keys, flags } = this.indexArgs(key, change)
    const [[status, moved, ...inline], alongside] = await this.alongside(this.change<[number, number, ...string[]]>(WRITE_SCRIPT, [key, ...keys], [
      idle, ...flags, id, sets.length / 2, this.settings.maxBytes, text, this.settings.maxSessionsPerUser, ...sets, ...deletes
    ], login), change, id, ([status]) => status > 0)
    if (status > 0 && change.add !== undefined) await this.evict(change.add, id, this.inline ? inline : alongside)
    return moved === 1 ? { status, logBytes: null, moved: true } : { status, logBytes: null }
  }

  /**
   * The common write (see log.ts): one plain APPEND of the changed fields to the text this request
   * read, `plan.length` bytes long. Its reply `now`, the text's new length, says what it appended
   * to: the length expected means nobody wrote since, and this request's own checks (deadline,
   * maxBytes) were made on the session as it is; anything else, see landed().
   */
  private appended (id: string, key: string, text: string, plan: WritePlan, now: number, sets: string[], deletes: string[], before: () => string): Written | Promise<Written> {
    if (now !== plan.length + Buffer.byteLength(text)) return this.landed(key, text, now, before)
    // Landed right behind the text the request read: this instance's next read need not parse it.
    this.recent.wrote(id, plan.read, plan.length, text, sets, deletes)
    return { status: 1, logBytes: now }
  }

  /** The APPEND with `durable` for every write: WAIT behind it on the same connection (see change()). */
  private async appendDurably (durable: Durable, id: string, key: string, text: string, plan: WritePlan, sets: string[], deletes: string[], before: () => string, idle: number): Promise<Written> {
    const [now, , acked] = await Promise.all([
      this.command<number>('append', [key, text]),
      this.expireBehind(key, idle),
      this.command<number>('wait', [durable.replicas, durable.timeout])
    ])
    if (acked < durable.replicas) throw new SessionNotDurableError(acked, durable.replicas, durable.timeout)
    return await this.appended(id, key, text, plan, now, sets, deletes, before)
  }

  /**
   * The write that rewrites the text compacted (see log.ts): COMPACT replaces it with `compacted`
   * while it is still `length` bytes long (nobody wrote since), and otherwise appends the changed
   * fields as the common write does, unless the key holds no session.
   */
  private async compact (key: string, compacted: string, text: string, length: number, before: () => string): Promise<Written> {
    const reply = await this.change<number>(COMPACT_SCRIPT, [key], [compacted, length, text], false)
    if (reply === 0) return { status: 1, logBytes: Buffer.byteLength(compacted) }
    if (reply === -2) return { status: 0, logBytes: null, moved: true }
    if (reply < 0) return { status: 0, logBytes: null }
    return await this.landed(key, text, reply, before)
  }

  /**
   * A write whose fragment `text` did not land where it expected: the text is now `length` bytes.
   * - A multiple of BLOCK: not a session. The session was destroyed (the APPEND created the key,
   *   which is deleted again), or replaced by a forwarding or destroyAllFor record, whose first
   *   block is all that is read. Nothing was saved.
   * - Anything else: another writer changed the session since. Its fields and these are both in,
   *   the last value of each field winning, as a merge would have it. Only maxBytes is left to
   *   check, and only when the text is longer than it: CHECK decides, one more round trip, and
   *   rewrites the text compacted when it is due (a write that raced never compacts it otherwise).
   */
  private async landed (key: string, text: string, length: number, before: () => string): Promise<Written> {
    if (length % BLOCK === 0) {
      if (length !== Buffer.byteLength(text)) return { status: 0, logBytes: null, moved: true }
      await this.command('del', [key])
      return { status: 0, logBytes: null }
    }
    if (length <= this.settings.maxBytes) return { status: 1, logBytes: null }
    return { status: await this.change<number>(CHECK_SCRIPT, [key], [text, before(), this.settings.maxBytes], false), logBytes: null }
  }

  /**
   * Creates a session, replacing `oldId` atomically when given, idle for `idle` (its own idle
   * time, or `ttl`). Resolves to its deadline; or 0 when `oldId` was gone, unless `blind` (never
   * read, so it may well be gone: created anyway); or -1 when another request's regenerate() had
   * replaced it (MOVED), `blind` or not.
   */
  async create (id: string, oldId: string | undefined, sets: string[], change: UserChange, blind: boolean, idle: number): Promise<number> {
    const key = this.sessionKey(id)
    const { keys, flags } = this.indexArgs(key, change)
    const [[deadline, ...inline], alongside] = await this.alongside(this.change<[number, ...string[]]>(CREATE_SCRIPT, [key, oldId === undefined ? key : this.sessionKey(oldId), ...keys], [
      oldId === undefined ? '0' : blind ? '2' : '1', ...flags, idle, this.settings.maxLifetime, id, oldId ?? '', this.forwardMs, this.inline ? '0' : '1', afterTag(id), this.settings.maxSessionsPerUser, oldId === undefined ? '' : afterTag(oldId), ...sets
    ], oldId !== undefined || isLogin(change)), change, id, ([deadline]) => deadline > 0)
    if (change.add !== undefined) {
      // Refused (the old session was destroyed meanwhile): the entry added alongside leads nowhere.
      if (deadline <= 0 && !this.inline) await this.command('zrem', [this.indexKey(change.add), id])
      if (deadline > 0) await this.evict(change.add, id, this.inline ? inline : alongside)
    }
    return deadline
  }

  /**
   * How long a regenerated session's forwarding record lives: longer than any destroyAllFor that
   * listed the old session can take to reach it (a few calls, each within `timeout`).
   */
  get forwardMs (): number {
    return 60_000 + 4 * this.settings.timeout
  }

  /**
   * How young an index entry may be and still be a session being created (see PRUNE), and how long
   * destroyAllFor marks a listed session that does not exist yet. Only on a Cluster: elsewhere one
   * script writes the session and its index entry together.
   */
  get pendingMs (): number {
    return this.inline ? 0 : 1000 + 2 * this.settings.timeout
  }

  /**
   * destroyAllFor's destroy: the session and, with `follow`, whatever it was regenerated into, as
   * long as it is `user`'s (see DESTROY_ALL); how many ended.
   */
  async destroyAll (id: string, user: string, keep: readonly string[], follow = true): Promise<number> {
    const key = this.sessionKey(id)
    return await this.change<number>(DESTROY_ALL_SCRIPT, [key], [key.slice(0, key.length - afterTag(id).length), this.pendingMs, follow ? '1' : '0', user, ...keep.map((k) => this.sessionKey(k))], true)
  }

  /** Removes index entries: `always` at once, `unlessRecent` only once older than pendingMs. */
  async prune (user: string, always: readonly string[], unlessRecent: readonly string[]): Promise<void> {
    if (always.length + unlessRecent.length === 0) return
    await this.call(this.send.script(PRUNE_SCRIPT, [this.indexKey(user)], [this.settings.maxLifetime, this.pendingMs, always.length, ...always, ...unlessRecent]))
  }

  /**
   * Ends a session, and what a regenerate() that raced this request made of it (see DESTROY in
   * scripts.ts), whose index entry then goes in a call of its own. That call failing fails nothing:
   * the logout has landed, and an entry that leads to no session is pruned by listFor and
   * destroyAllFor, so it is logged.
   */
  async destroy (id: string, user: string | undefined): Promise<void> {
    const key = this.sessionKey(id)
    const rest = afterTag(id)
    const indexed = this.inline && user !== undefined
    const [next, owner] = await this.change<[string?, string?]>(DESTROY_SCRIPT, [key, indexed ? this.indexKey(user) : key], [id, indexed ? '1' : '0', key.slice(0, key.length - rest.length), rest, this.forwardMs], true)
    if (next === undefined || owner === undefined || owner === '') return
    const ended = slotTag(id) + next
    await this.command('zrem', [this.indexKey(owner), ended]).catch((err: unknown) => {
      this.log.warn({ err, session: digest(ended) }, '@scaleout/session: a session a logout ended could not leave its user index; listFor and destroyAllFor prune the entry')
    })
  }
}
