import type { FastifyReply, FastifyRequest } from 'fastify'
import type { SizedCodec } from '@scaleout/core'
import { encodeChanges, sameUser, userUpdate, withClient } from './changes.js'
import { InvalidSessionKeyError, SessionNotLoadedError, SessionTooLargeError } from './errors.js'
import { isSecure, serialize } from './cookie.js'
import { StoredValues } from './fields.js'
import { digest, newId, sign } from './signing.js'
import type { Settings } from './options.js'
import type { Store } from './store.js'
import type { RequestSession, SessionData, SessionKey } from './types.js'

export interface Context {
  readonly settings: Settings
  readonly store: Store
  readonly codec: SizedCodec
}

const MAX_KEY = 256

/** What the response must do with the cookie. */
type CookieAction = 'keep' | 'set' | 'clear'

// The plugin's hooks drive a session through these; under Symbols, so `request.session` shows
// users only its public API (RequestSession).
export const kReject = Symbol('scaleout.session.reject')
export const kDefer = Symbol('scaleout.session.defer')
export const kLoad = Symbol('scaleout.session.load')
export const kIdle = Symbol('scaleout.session.idle')
export const kFinish = Symbol('scaleout.session.finish')

/**
 * One request's view of a session. Values are decoded lazily and only changed keys are written
 * back, so parallel requests that change different keys never overwrite each other.
 */
export class Session implements RequestSession {
  readonly #ctx: Context
  readonly #request: FastifyRequest
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
  /** Encoded values as loaded or last saved. */
  #raw = new StoredValues()
  /** Decoded values, and what the handler set; a deleted key maps to undefined. */
  #values = new Map<string, unknown>()
  #changed = new Set<string>()
  /** The user id the stored session is indexed under. */
  #user: string | undefined
  /** Why the session could not be loaded; thrown at the handler when it uses the session. */
  #error: Error | null = null
  #hadCookie = false
  #cookie: CookieAction = 'keep'
  #finished = false

  constructor (ctx: Context, request: FastifyRequest) {
    this.#ctx = ctx
    this.#request = request
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

  /** Marks a cookie that is present but not ours, or whose session is gone: the response clears it. */
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

  /** Reads the session behind a verified cookie; never throws (a failure is kept for the handler). */
  async [kLoad] (id: string, resign: boolean): Promise<void> {
    this.#hadCookie = true
    try {
      const loaded = await this.#ctx.store.load(id)
      if (loaded === null) {
        this.#cookie = 'clear'
        return
      }
      this.#id = id
      this.#stored = id
      this.#raw = loaded.data
      this.#user = loaded.user
      if (resign) this.#cookie = 'set'
    } catch (err) {
      this.#error = err as Error
      this.#request.log.warn({ err, session: digest(id) }, '@scaleout/session: session could not be loaded')
    }
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
    if (this.#values.has(key)) return this.#values.get(key) as SessionData[K] | undefined
    const raw = this.#raw.get(key)
    if (raw === undefined) return undefined
    const value = this.#ctx.codec.decode(raw)
    this.#values.set(key, value)
    return value as SessionData[K]
  }

  set<K extends SessionKey> (key: K, value: SessionData[K]): void {
    this.#loaded()
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY) throw new InvalidSessionKeyError()
    this.#values.set(key, value)
    this.#changed.add(key)
  }

  delete (key: SessionKey): void {
    this.set(key, undefined)
  }

  has (key: SessionKey): boolean {
    return this.get(key) !== undefined
  }

  data (): Partial<SessionData> {
    this.#loaded()
    const { codec } = this.#ctx
    const copy: Record<string, unknown> = {}
    const raw = this.#raw.map()
    for (const key of new Set([...raw.keys(), ...this.#values.keys()])) {
      const value = this.#changed.has(key) ? this.#values.get(key) : undefined
      const fresh = this.#changed.has(key)
        ? (value === undefined ? undefined : codec.decode(codec.encode(value)))
        : codec.decode(raw.get(key) as string)
      // defineProperty: a key named __proto__ stays an ordinary property.
      if (fresh !== undefined) Object.defineProperty(copy, key, { value: fresh, enumerable: true, writable: true, configurable: true })
    }
    return copy as Partial<SessionData>
  }

  async regenerate (keep: SessionKey[] = []): Promise<void> {
    this.#usable()
    if (this.#deferred !== null) {
      // Nothing kept means nothing to read: the save replaces the unread session, if it exists.
      if (keep.length > 0) throw new SessionNotLoadedError()
      this.#stored = this.#deferred
      this.#blind = true
      this.#deferred = null
    }
    const kept = new Map<string, unknown>()
    for (const key of keep) {
      const value = this.get(key)
      if (value !== undefined) kept.set(key, value)
    }
    this.#id = newId(this.#stored ?? undefined)
    this.#rotate = this.#stored !== null
    this.#raw = new StoredValues()
    this.#values = kept
    this.#changed = new Set(kept.keys())
  }

  async destroy (): Promise<void> {
    this.#usable()
    if (this.#deferred !== null) {
      // Unread, so its user is unknown: listFor prunes the index entry it leaves behind.
      await this.#ctx.store.destroy(this.#deferred, undefined)
      this.#deferred = null
    } else if (this.#stored !== null) await this.#ctx.store.destroy(this.#stored, this.#user)
    this.#reset()
  }

  /** Back to an empty, unsaved session whose cookie the response clears. */
  #reset (): void {
    this.#id = null
    this.#stored = null
    this.#rotate = false
    this.#blind = false
    this.#raw = new StoredValues()
    this.#values = new Map()
    this.#changed = new Set()
    this.#user = undefined
    this.#cookie = this.#hadCookie ? 'clear' : 'keep'
  }

  touch (): void {
    this.#loaded()
    if (this.#stored !== null) this.#cookie = 'set'
  }

  async reload (): Promise<void> {
    this.#usable()
    if (this.#deferred !== null) {
      const id = this.#deferred
      this.#deferred = null
      await this[kLoad](id, this.#deferredResign)
      this.#usable()
      return
    }
    const stored = this.#stored
    // What the response does with the cookie is unchanged unless the session turns out gone.
    const cookie = this.#cookie
    this.#reset()
    this.#cookie = cookie
    if (stored !== null) await this[kLoad](stored, false)
    this.#usable()
  }

  async save (): Promise<void> {
    this.#loaded()
    await this.#commit(true)
  }

  /** True when the response needs neither a save nor a cookie (checked without a promise). */
  [kIdle] (): boolean {
    return this.#error !== null || (this.#cookie === 'keep' && !this.#rotate && this.#changed.size === 0)
  }

  /** Called from onSend: saves what changed and sets or clears the cookie. */
  async [kFinish] (reply: FastifyReply): Promise<void> {
    // An error response produced by our own failure runs onSend again: do nothing twice.
    if (this.#finished) return
    this.#finished = true
    await this.#commit(false)
    if (this.#cookie === 'keep') return
    const { settings } = this.#ctx
    const secure = isSecure(settings.cookie, this.#request)
    const value = this.#cookie === 'set' ? sign(this.#id as string, settings.secrets) : null
    reply.header('set-cookie', serialize(settings.cookie, secure, value))
  }

  async #commit (force: boolean): Promise<void> {
    const creating = this.#rotate || (this.#stored === null && (force || this.#hasData()))
    if (!creating && this.#changed.size === 0) return
    const { codec, settings, store } = this.#ctx
    const { userKey } = settings
    const { user, change, meta } = creating || this.#changed.has(userKey)
      ? userUpdate(userKey, this.get(userKey), this.#user, creating, this.#rotate)
      : sameUser(this.#user)
    const { sets, deletes, encoded } = encodeChanges(codec, settings.maxBytes, this.#changed, this.#values, creating)
    sets.push(...meta.sets)
    deletes.push(...meta.deletes)
    const id = this.id
    const oldId = this.#rotate ? this.#stored as string : undefined
    const deadline = creating
      ? await store.create(id, oldId, withClient(this.#request, sets), change, this.#blind)
      : await store.write(id, sets, deletes, change)
    if (deadline < 0) throw new SessionTooLargeError(-deadline, settings.maxBytes)
    if (deadline === 0) {
      // Destroyed (or expired) by another request meanwhile: writing now would resurrect it.
      this.#request.log.warn({ session: digest(oldId ?? id) }, '@scaleout/session: session ended while this request ran; its changes were dropped')
      this.#reset()
      return
    }
    if (creating) this.#cookie = 'set'
    const raw = this.#raw.map()
    for (const key of this.#changed) {
      const text = encoded.get(key)
      if (text === undefined) raw.delete(key)
      else raw.set(key, text)
    }
    this.#stored = id
    this.#rotate = false
    this.#blind = false
    this.#user = user
    this.#changed.clear()
  }

  #hasData (): boolean {
    for (const key of this.#changed) if (this.#values.get(key) !== undefined) return true
    return false
  }
}
