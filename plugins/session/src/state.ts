import type { FastifyReply, FastifyRequest } from 'fastify'
import { invalid } from '@scaleout/core'
import { isSessionKey, PROTO_KEY } from './changes.js'
import type { Context } from './context.js'
import { InvalidSessionKeyError, SessionNotLoadedError } from './errors.js'
import { isSecure, serialize } from './cookie.js'
import { cookieLifetime } from './expiry.js'
import { keepIdle } from './idle.js'
import { PLUGIN } from './options.js'
import { attributesOf, checkMaxAge, checkOwn, idleOf, maxAgeOf, META_OWN, NONE, ownField, type Own } from './own-cookie.js'
import { save } from './save.js'
import type { Loaded } from './store.js'
import type { Stored } from './stored.js'
import { SessionCookie } from './session-cookie.js'
import { digest, newId, signed, type Signed } from './signing.js'
import type { SessionData, SessionKey } from './types.js'
import { SessionValues } from './values.js'

/** What the response must do with the cookie. */
type CookieAction = 'keep' | 'set' | 'clear'

// The plugin's hooks drive a session through these; under Symbols, so `request.session` shows
// users only its public API (RequestSession, see session.ts).
export const kReject = Symbol('scaleout.session.reject')
export const kDefer = Symbol('scaleout.session.defer')
/** The request's slot holding its session (decorated on every request). */
export const kSession = Symbol('scaleout.session')
export const kLoad = Symbol('scaleout.session.load')
export const kIdle = Symbol('scaleout.session.idle')
export const kFinish = Symbol('scaleout.session.finish')
export const kBegin = Symbol('scaleout.session.begin')
// What the public methods of session.ts call, with or without a callback.
export const kRegenerate = Symbol('scaleout.session.regenerate')
export const kDestroy = Symbol('scaleout.session.destroy')
export const kReload = Symbol('scaleout.session.reload')
export const kSave = Symbol('scaleout.session.save')

/** One request's view of a session (its values: see values.ts; its public methods: session.ts). */
export class SessionState {
  readonly #ctx: Context
  readonly #request: FastifyRequest
  /** The save running now, if any. */
  #committing: Promise<void> | null = null
  /** The last save() called, while it runs (from its call on: see #settled). */
  #saving: Promise<void> | null = null
  #id: string | null = null
  /** The id Redis knows this session by; null while it has never been saved. */
  #stored: string | null = null
  /** A regenerate() is pending: the next save creates #id and deletes #stored in one step. */
  #rotate = false
  /** #stored was never read (lazy route): it may be gone, and its user index is unknown. */
  #blind = false
  /** On a lazy route: the verified id whose session has not been read (it may not exist). */
  #deferred: string | null = null
  #deferredResign = false
  /**
   * The id the request's cookie names when another request's regenerate() turned it into a
   * forwarding record (a login that landed first): what destroy() ends, with what it leads to.
   */
  #forwarded: string | null = null
  #values: SessionValues
  /** The user id the stored session is indexed under. */
  #user: string | undefined
  /** Why the session could not be loaded; thrown at the handler when it uses the session. */
  #error: Error | null = null
  #hadCookie = false
  #cookie: CookieAction = 'keep'
  /** The cookie value, kept so that sending it again costs no HMAC. */
  #signed: Signed | null = null
  /** Saved by this request (save(), or the save made for its response). */
  #saved = false
  /** Where the response's save stands: only the first send saves (see kFinish). */
  #finishing: 'no' | 'running' | 'done' = 'no'
  /** The session's own cookie attributes (see own-cookie.ts), and whether they differ from what is stored. */
  #own: Own = NONE
  #ownChanged = false
  /** Those the request's cookie was set with: a cookie is cleared with the Domain and Path it has. */
  #incoming: Own = NONE
  /** When the cookie this response sends expires (ms since the epoch); taken on first use. */
  #expiresAt: number | null | undefined
  /** The Max-Age (ms, whole seconds) sent with it, taken with it. */
  #lifetime: number | undefined
  /**
   * The loaded session's absolute deadline (its `m:d`, ms since the epoch); undefined for one
   * this request starts, or restarts with regenerate(): `maxLifetime` from now.
   */
  #deadline: number | undefined
  #cookieView: SessionCookie | null = null
  /**
   * `early`: made by `request.session`, perhaps in an onRequest hook registered before the
   * plugin's, so before the request's cookie was read; `begun`: the cookie was taken into it (see
   * kBegin); `plain`: made by the plugin's hook or decryptSession.
   */
  #start: 'early' | 'begun' | 'plain'

  constructor (ctx: Context, request: FastifyRequest, early = false) {
    this.#ctx = ctx
    this.#request = request
    this.#values = new SessionValues(ctx.codec)
    this.#start = early ? 'early' : 'plain'
  }

  /** The request's cookie is being taken into this session: false when it was already (see plugin.ts begin). */
  [kBegin] (): boolean {
    if (this.#start === 'begun') return false
    this.#start = 'begun'
    return true
  }

  /**
   * Before a method that must act on the request's session (regenerate, destroy, save): a session
   * made before the plugin's onRequest hook read the cookie reads it now (the read that hook would
   * make), so that it regenerates, ends or saves that session, not an empty one that the read would
   * then replace. Nothing for any other session, or a request without a session cookie.
   */
  #begin (): Promise<unknown> | undefined {
    return this.#start === 'early' ? this.#ctx.begin(this.#request) : undefined
  }

  /**
   * Before regenerate, destroy or reload: a save of this request still running (a `save()` not
   * awaited, @fastify/session's `save(cb)`) is waited for, so that they act on what it leaves. Its
   * outcome would otherwise land on their state: a regenerate() taken as saved and never made (the
   * login dropped, the cookie cleared), a session the save created left alive by a destroy(), or
   * unread by a reload(). Its failure is its caller's to see.
   */
  async #settled (): Promise<void> {
    if (this.#saving !== null) await this.#saving.catch(() => {})
  }

  get id (): string {
    this.#loaded()
    this.#id ??= newId()
    return this.#id
  }

  get sessionId (): string {
    return this.id
  }

  get isNew (): boolean {
    this.#loaded()
    return this.#stored === null
  }

  /** The cookie's value: the id and its signature. */
  get encryptedSessionId (): string {
    this.#signed = signed(this.id, this.#ctx.settings.secrets, this.#signed)
    return this.#signed.value
  }

  /** A cookie that is present but not ours, or whose session is gone: the response clears it. */
  [kReject] (): void {
    this.#hadCookie = true
    this.#cookie = 'clear'
  }

  /** On a lazy route: remembers the verified id and reads nothing until the handler asks. */
  [kDefer] (id: string, resign: boolean): void {
    this.#hadCookie = true
    this.#deferred = id
    this.#deferredResign = resign
  }

  /**
   * Reads the session behind a verified cookie (`signed`: its value, when signed with the current
   * secret); never rejects: a failure is kept for the handler, and what it resolves to. One promise
   * step from the read's reply to here (on every request that carries a cookie).
   */
  [kLoad] (id: string, resign: boolean, signed?: string): Promise<Error | null> {
    this.#hadCookie = true
    const { store } = this.#ctx
    const pending = store.read(id)
    // Taking what was read throws for nothing Redis can hold (garbage reads as no session, or as
    // no attributes of its own): only Redis's own failures are left to keep.
    const failed = (err: unknown): Error => this.#failed(err, id)
    return pending.stored.then((stored) => this.#took(id, resign, signed, stored, store.view(stored, pending.slid), failed), failed)
  }

  /** Takes what a load read (`loaded` null: no session; the response clears the cookie, unless the session moved). */
  #took (id: string, resign: boolean, signed: string | undefined, stored: Stored | null, loaded: Loaded | null, failed: (err: unknown) => Error): Error | null | Promise<Error | null> {
    if (loaded === null) {
      // Regenerated by another request (a login): its response gave the browser the new id, which
      // clearing the cookie here would delete, logging the user out.
      if (this.#ctx.store.moved(stored)) {
        this.#cookie = 'keep'
        this.#forwarded = id
      } else this.#cookie = 'clear'
      return null
    }
    this.#id = id
    this.#stored = id
    this.#values.loaded(loaded.data)
    this.#user = loaded.user
    this.#incoming = loaded.own
    this.#deadline = loaded.data.deadline
    // What a hook that ran before the load set stays on top, as for values.
    this.#own = this.#ownChanged ? { ...loaded.own, ...this.#own } : loaded.own
    this.#expiresAt = undefined
    if (signed !== undefined) this.#signed = { id, value: signed }
    // A cookie with a Max-Age (the plugin's or the session's own) is sent again on every response
    // that read it (rolling, as @fastify/session does by default), so an active user's cookie
    // does not expire.
    if (resign || this.#ownChanged || maxAgeOf(this.#ctx.settings, this.#own) !== undefined) this.#cookie = 'set'
    // The GETEX slid the expiry by ttl, or by the idle time the session had when this instance
    // last read it; one of its own that differs is set now.
    const idle = idleOf(this.#ctx.settings, this.#own)
    if (idle === loaded.slid) return null
    return keepIdle(this.#ctx.store, id, idle).then(() => null, failed)
  }

  #failed (err: unknown, id: string): Error {
    this.#error = err as Error
    this.#request.log.warn({ err, session: digest(id) }, '@scaleout/session: session could not be loaded')
    return this.#error
  }

  #usable (): void {
    if (this.#error !== null) throw this.#error
  }

  /** Reading or changing values needs the session read first (only ever missing on a lazy route). */
  #loaded (): void {
    this.#usable()
    if (this.#deferred !== null) throw new SessionNotLoadedError()
  }

  get<K extends SessionKey> (key: K): SessionData[K] | undefined {
    this.#loaded()
    // The one key set() refuses that a lookup could still find: a field forged in Redis.
    if (key === PROTO_KEY) throw new InvalidSessionKeyError()
    return this.#values.get(key) as SessionData[K] | undefined
  }

  set<K extends SessionKey> (key: K, value: SessionData[K]): void {
    this.#loaded()
    if (!isSessionKey(key)) throw new InvalidSessionKeyError()
    this.#values.set(key, value)
  }

  delete (key: SessionKey): void {
    this.set(key, undefined)
  }

  has (key: SessionKey): boolean {
    return this.get(key) !== undefined
  }

  data (): Partial<SessionData> {
    this.#loaded()
    return this.#values.data() as Partial<SessionData>
  }

  /** The session cookie's lifetime and attributes (see session-cookie.ts). */
  get cookie (): SessionCookie {
    this.#loaded()
    this.#cookieView ??= new SessionCookie({
      expiresAt: () => this.#expires(),
      originalMaxAge: () => maxAgeOf(this.#ctx.settings, this.#own) ?? null,
      attributes: () => attributesOf(this.#ctx.settings, this.#own),
      secure: () => this.#secure(),
      setMaxAge: (value) => { this.#setOwn({ ...this.#own, maxAge: checkMaxAge('session.cookie.maxAge', value) }) }
    })
    return this.#cookieView
  }

  /** Cookie attributes for this session alone, kept with it (see own-cookie.ts). */
  options (opts: unknown): void {
    this.#loaded()
    this.#setOwn(checkOwn(this.#ctx.settings, this.#own, opts, 'session.options'))
  }

  #setOwn (own: Own): void {
    if (ownField(own) === ownField(this.#own)) return
    this.#own = own
    this.#ownChanged = true
    this.#expiresAt = undefined
    if (this.#stored !== null) this.#cookie = 'set'
  }

  /**
   * When the cookie this response sends expires: its Max-Age (see cookieLifetime: no later than
   * the session's deadline, by the clock reads check the deadline with) from the first time it is
   * asked, so the getters report what Set-Cookie then says.
   */
  #expires (): number | null {
    if (this.#expiresAt === undefined) {
      const { settings } = this.#ctx
      const maxAge = maxAgeOf(settings, this.#own)
      const now = Date.now()
      this.#lifetime = maxAge === undefined ? undefined : cookieLifetime(maxAge, this.#deadline === undefined ? settings.maxLifetime : this.#deadline - now)
      this.#expiresAt = this.#lifetime === undefined ? null : now + this.#lifetime
    }
    return this.#expiresAt
  }

  #secure (): boolean {
    return isSecure(attributesOf(this.#ctx.settings, this.#own), this.#request)
  }

  /** Whether a save would write anything: a new id, a value that differs from the stored one, or new cookie attributes. */
  isModified (): boolean {
    this.#loaded()
    return this.#rotate || (this.#ownChanged && this.#stored !== null) || this.#values.modified()
  }

  /** Whether this request saved the session (save(), or the save made for its response). */
  isSaved (): boolean {
    return this.#saved
  }

  async [kRegenerate] (keep: SessionKey[]): Promise<void> {
    // A string would be iterated as its characters, keeping nothing, silently.
    if (!Array.isArray(keep)) throw invalid(PLUGIN, 'session.regenerate', 'an array of the session keys to keep, or nothing')
    for (const key of keep as unknown[]) if (!isSessionKey(key)) throw new InvalidSessionKeyError()
    await this.#begin()
    await this.#settled()
    this.#usable()
    if (this.#deferred !== null) {
      // Nothing kept means nothing to read: the save replaces the unread session, if it exists.
      if (keep.length > 0) throw new SessionNotLoadedError()
      this.#stored = this.#deferred
      this.#blind = true
      this.#deferred = null
    } else if (this.#stored === null && this.#forwarded !== null) {
      // Read as no session because another request's regenerate() (a login) replaced it first:
      // replacing the record instead makes the save find it and back off, sending no cookie, as a
      // login that read the session before the other landed does, rather than create a second
      // session, alive and listed under the user beside the other until its idle timeout.
      this.#stored = this.#forwarded
      this.#blind = true
    }
    const kept = new SessionValues(this.#ctx.codec)
    for (const key of keep) {
      const value = this.get(key)
      if (value !== undefined) kept.set(key, value)
    }
    this.#id = newId(this.#stored ?? undefined)
    this.#rotate = this.#stored !== null
    this.#values = kept
    this.#saved = false
    // The new session's maxLifetime starts at its save: its cookie may live that long again.
    this.#deadline = undefined
    this.#expiresAt = undefined
  }

  async [kDestroy] (): Promise<void> {
    await this.#begin()
    await this.#settled()
    this.#usable()
    if (this.#deferred !== null) {
      // Unread, so its user is unknown: listFor prunes the index entry it leaves behind.
      await this.#ctx.store.destroy(this.#deferred, undefined)
      this.#deferred = null
    } else if (this.#stored !== null) await this.#ctx.store.destroy(this.#stored, this.#user)
    // A logout racing a login with the same cookie, the login first: ends the login's session too.
    else if (this.#forwarded !== null) await this.#ctx.store.destroy(this.#forwarded, undefined)
    this.#reset()
  }

  /** Back to an empty, unsaved session whose cookie the response clears. */
  #reset (): void {
    this.#forwarded = null
    this.#id = null
    this.#stored = null
    this.#rotate = false
    this.#blind = false
    this.#values = new SessionValues(this.#ctx.codec)
    this.#user = undefined
    this.#saved = false
    this.#cookie = this.#hadCookie ? 'clear' : 'keep'
    this.#own = NONE
    this.#ownChanged = false
    this.#expiresAt = undefined
    this.#deadline = undefined
  }

  touch (): void {
    this.#loaded()
    this.#expiresAt = undefined
    if (this.#stored !== null) this.#cookie = 'set'
  }

  async [kReload] (): Promise<void> {
    await this.#settled()
    this.#usable()
    if (this.#deferred !== null) {
      const id = this.#deferred
      this.#deferred = null
      await this[kLoad](id, this.#deferredResign)
    } else {
      const stored = this.#stored
      // What the response does with the cookie is unchanged unless the session turns out gone.
      const cookie = this.#cookie
      this.#reset()
      this.#cookie = cookie
      if (stored !== null) await this[kLoad](stored, false)
    }
    this.#usable()
  }

  async [kSave] (): Promise<void> {
    // Known from the call on, before its first await: a reload() called right after it must see it.
    const run = this.#saveNow()
    this.#saving = run
    try {
      await run
    } finally {
      if (this.#saving === run) this.#saving = null
    }
  }

  async #saveNow (): Promise<void> {
    await this.#begin()
    this.#loaded()
    await this.#commit(true)
    this.#saved = this.#stored !== null
  }

  /** True when the response needs neither a save nor a cookie (checked without a promise). */
  [kIdle] (): boolean {
    // A send after the first one finished is an error response (our failure or a later hook's).
    if (this.#finishing === 'done') return true
    return this.#finishing === 'no' && (this.#error !== null || (this.#cookie === 'keep' && !this.#rotate && this.#values.changes === 0))
  }

  /**
   * Called from onSend: saves what changed and sets or clears the cookie; resolves to whether this
   * send goes on. An async handler that calls reply.send() without returning it makes Fastify send
   * again, with nothing, while the first send is still saving: that second send is dropped (its
   * onSend never completes), as the first send's response, or its error response, goes out anyway.
   */
  async [kFinish] (reply: FastifyReply): Promise<boolean> {
    if (this.#finishing === 'running') return false
    this.#finishing = 'running'
    try {
      await this.#commit(false)
    } finally {
      this.#finishing = 'done'
    }
    if (this.#cookie === 'keep') return true
    const { settings } = this.#ctx
    // The name is the plugin's, which the next request looks for; the attributes are the session's.
    const secure = isSecure(settings.cookie, this.#request)
    const incoming = attributesOf(settings, this.#incoming)
    if (this.#cookie === 'clear') {
      reply.header('set-cookie', serialize(settings.cookie, secure, null, incoming, this.#request))
      return true
    }
    const own = attributesOf(settings, this.#own)
    // Moved to another Domain or Path, the browser would keep the old cookie too, and might send it first.
    if (this.#hadCookie && (own.domain !== incoming.domain || own.path !== incoming.path)) {
      reply.header('set-cookie', serialize(settings.cookie, secure, null, incoming, this.#request))
    }
    const expires = this.#expires()
    reply.header('set-cookie', serialize(settings.cookie, secure, settings.cookiePrefix + this.encryptedSessionId, own, this.#request, this.#lifetime, expires === null ? undefined : new Date(expires)))
    return true
  }

  /**
   * One save at a time: a save(cb) still running when the reply is sent (@fastify/session's users
   * do that) is waited for, and the response's save then writes only what changed after it.
   */
  async #commit (force: boolean): Promise<void> {
    const previous = this.#committing
    const run = previous === null ? this.#commitNow(force) : previous.then(async () => await this.#commitNow(force), async () => await this.#commitNow(force))
    this.#committing = run
    try {
      await run
    } finally {
      if (this.#committing === run) this.#committing = null
    }
  }

  async #commitNow (force: boolean): Promise<void> {
    const saved = await save(this.#ctx, this.#request, {
      id: () => (this.#id ??= newId()),
      stored: this.#stored ?? undefined,
      rotate: this.#rotate,
      blind: this.#blind,
      user: this.#user,
      values: this.#values,
      force,
      own: Object.keys(this.#own).length === 0 ? [] : [META_OWN, ownField(this.#own)],
      // A session never saved is written whole when it is created, or not at all.
      ownChanged: this.#ownChanged && this.#stored !== null,
      idle: idleOf(this.#ctx.settings, this.#own)
    })
    if (saved === 'nothing') return
    if (saved === 'gone' || saved === 'moved') {
      const stored = this.#stored
      this.#reset()
      // Regenerated by another request (a login): its response gave the browser the new id, which
      // clearing the cookie here would delete, logging the user out; a destroy() after it ends that.
      if (saved === 'moved') {
        this.#cookie = 'keep'
        this.#forwarded = stored
      }
      return
    }
    if (saved.created) this.#cookie = 'set'
    this.#stored = this.#id
    this.#rotate = false
    this.#blind = false
    this.#user = saved.user
    this.#saved = true
    this.#ownChanged = false
  }
}
