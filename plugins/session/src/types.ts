import type { RedisOption } from '@scaleout/core'
import type { FastifyRequest } from 'fastify'

/**
 * The values a session holds. Extend it by declaration merging to type `get` and `set`:
 * `declare module '@scaleout/session' { interface SessionData { userId: string } }`.
 */
export interface SessionData {
  [key: string]: unknown
}

/** A key of SessionData that is a string (the only kind sessions store). */
export type SessionKey = keyof SessionData & string

/** Cookie attributes. Everything is optional; defaults are the safe choice. */
export interface SessionCookieOptions {
  /** Default `/`. The `__Host-` prefix is only used with `/`. */
  path?: string
  /** Default none (host-only cookie, which allows the `__Host-` prefix). */
  domain?: string
  /** Default `'auto'`: Secure when `request.protocol` is https (honours trustProxy). */
  secure?: boolean | 'auto'
  /** Default `'lax'`. `'none'` requires `secure: true`. `true` means `'strict'` (as in @fastify/cookie). */
  sameSite?: 'lax' | 'strict' | 'none' | true
  /** Default true. */
  httpOnly?: boolean
  /**
   * Browser lifetime of the cookie: milliseconds or a duration string such as `'30d'`, rounded down
   * to whole seconds, never past the session's `maxLifetime`; default none (a browser-session cookie).
   */
  maxAge?: number | string
  /** CHIPS partitioned cookie; default false. */
  partitioned?: boolean
  /** Use the `__Host-` name prefix when the cookie is Secure, host-only and on `/`; default true. */
  hostPrefix?: boolean
}

export interface SessionOptions {
  /** At least 32 characters each. The first signs; the others only verify (secret rotation). */
  secret: string | string[]
  /** Where sessions live; see @scaleout/core `resolveRedis`. */
  redis?: RedisOption
  /** The Redis key prefix (not a route prefix); default `scaleout:sess:`. */
  prefix?: string
  /** Idle timeout, sliding with use: milliseconds or a duration string such as `'30m'`; default `'24h'`. */
  ttl?: number | string
  /** Absolute timeout from creation (or regeneration): milliseconds or a duration string; default `'7d'`. */
  maxLifetime?: number | string
  /** Cookie name, default `sessionId` (`__Host-sessionId` when the prefix applies). */
  cookieName?: string
  cookie?: SessionCookieOptions
  /** The session key holding the user id; setting it adds the session to that user's index. Default `userId`. */
  userKey?: string
  /**
   * Most sessions one user may have (an integer from 1 to 10000; default 100): a login past it ends
   * that user's sessions logged in longest ago.
   */
  maxSessionsPerUser?: number
  /** Most bytes the encoded session data may take; default 65536. */
  maxBytes?: number
  /** Bound on each Redis call made for a request: milliseconds or a duration string; default 1000. */
  timeout?: number | string
  /**
   * With `cookie.maxAge`: send the cookie again on every response that read the session, so an
   * active user's cookie does not expire. Default true (as in @fastify/session); false is refused.
   */
  rolling?: true
  /** Empty sessions are never saved (false, as @fastify/session's `saveUninitialized: false`); true is refused. */
  saveUninitialized?: false
  /** Text put before the signed value in the cookie (@fastify/session's `cookiePrefix`, e.g. `'s:'`); default none. */
  cookiePrefix?: string
  /** The cookie signature's HMAC: only `'sha256'` (the default). */
  algorithm?: 'sha256'
  /**
   * Every session write (save, regenerate, destroy, destroyAllFor) waits (Redis WAIT) for
   * `replicas` replicas (default 1) within `timeout` (default 500 ms, at most the plugin's
   * `timeout`), else fails with SCALEOUT_ERR_SESSION_NOT_DURABLE (503). Off by default; refused on a Cluster.
   */
  durable?: {
    replicas?: number
    /** Milliseconds, or a string such as `'500ms'`. */
    timeout?: number | string
    /**
     * `'all'` (default), or `'logins'`: only `regenerate()`, `destroy()`, `destroyAllFor` and
     * saves that set or remove the `userKey` wait; other saves cost what they cost without `durable`.
     */
    writes?: 'all' | 'logins'
  }
}

/**
 * A Node-style callback: called with `null` on success, else with the error. Declared as a method
 * so that Fastify's `done`/`next` (which take a FastifyError) can be passed as it is.
 */
export type SessionCallback = { callback (err?: Error | null): void }['callback']

/** One live session of a user, as `fastify.sessions.listFor` reports it. */
export interface SessionInfo {
  /** A short digest of the session id (never the id itself). */
  id: string
  createdAt: Date
  lastSeenAt: Date
  /** The address the session was created from; '' when none (a Unix socket) or not an address. */
  ip: string
  /** The first 512 characters of the User-Agent it was created with; '' when none. */
  userAgent: string
}

export interface DestroyAllOptions {
  /** Sessions to keep: ids (such as `request.session.id`) or the digests `listFor` returns. */
  except?: string | string[]
}

/** Server-side session management across every instance. */
export interface SessionsApi {
  /** The live sessions of a user, most recently seen first. */
  listFor: (userId: string | number) => Promise<SessionInfo[]>
  /** "Log out everywhere": destroys the user's sessions (but those in `except`); resolves to how many. */
  destroyAllFor: (userId: string | number, options?: DestroyAllOptions) => Promise<number>
}

/**
 * Cookie attributes for one session (`request.session.options()`), on top of the plugin's `cookie`
 * option; kept with the session across requests and by `regenerate()`.
 */
export interface SessionCookieOverrides {
  /** Milliseconds or a duration string such as `'30d'` (whole seconds, rounded down); `null`: a browser-session cookie. Also this session's idle timeout in Redis. */
  maxAge?: number | string | null
  /** Refused while the plugin's cookie carries the `__Host-` prefix. */
  domain?: string
  /** Only `/` while the plugin's cookie carries the `__Host-` prefix. */
  path?: string
  secure?: boolean | 'auto'
  /** `true` means `'strict'`. */
  sameSite?: 'lax' | 'strict' | 'none' | true
  httpOnly?: boolean
  partitioned?: boolean
}

/** `request.session.cookie`: the session cookie as this response sends it (@fastify/session's `session.cookie`). */
export interface SessionCookie {
  /** When the cookie expires (never after the session's `maxLifetime` deadline), or null for a browser-session cookie (no `maxAge`). */
  readonly expires: Date | null
  /**
   * Milliseconds until `expires` (null without one). Setting it (milliseconds or a duration string,
   * rounded down to whole seconds; null for a browser-session cookie) changes this session's cookie, and its idle timeout in
   * Redis, from this response on: "remember me".
   */
  get maxAge (): number | null
  set maxAge (value: number | string | null)
  /** The `maxAge` in force in milliseconds (the Max-Age sent unless the `maxLifetime` deadline is sooner), or null. */
  readonly originalMaxAge: number | null
  readonly path: string
  /** null for a host-only cookie. */
  readonly domain: string | null
  /** Whether the cookie is Secure on this request. */
  readonly secure: boolean
  readonly sameSite: 'lax' | 'strict' | 'none'
  readonly httpOnly: boolean
  readonly partitioned: boolean
  toJSON: () => Record<string, unknown>
}

/** `request.session`: @fastify/session's API but for the members its README's migration notes list, plus `data`, `delete`, `has`. */
export interface RequestSession {
  /** The session id; a new session gets one on first access. */
  readonly id: string
  /** Alias of `id`, as in @fastify/session. */
  readonly sessionId: string
  /** True until the session has been saved to Redis. */
  readonly isNew: boolean
  get: <K extends SessionKey>(key: K) => SessionData[K] | undefined
  set: <K extends SessionKey>(key: K, value: SessionData[K]) => void
  delete: (key: SessionKey) => void
  has: (key: SessionKey) => boolean
  /** A copy of every value. */
  data: () => Partial<SessionData>
  /** The session cookie's lifetime and attributes; set `cookie.maxAge` for this session alone ("remember me"). */
  readonly cookie: SessionCookie
  /** Cookie attributes for this session alone, kept with it across requests and by `regenerate()`. */
  options: (opts: SessionCookieOverrides) => void
  /** The cookie's value: the id and its signature (without `cookiePrefix`). */
  readonly encryptedSessionId: string
  /** Whether a save would write anything: a new id, a value that differs from the stored one, or changed cookie attributes of a saved session. */
  isModified: () => boolean
  /** Whether this request saved the session (`save()`, or the save made for its response). */
  isSaved: () => boolean
  /** A new id (the old session is deleted atomically when saved), keeping only the listed keys. */
  regenerate: {
    (keep?: SessionKey[]): Promise<void>
    /** The callback form: nothing is returned; `callback` gets the outcome, once. */
    (callback: SessionCallback): undefined
    (keep: SessionKey[] | undefined, callback: SessionCallback): undefined
  }
  /** Deletes the session in Redis now and clears the cookie on the response. */
  destroy: {
    (): Promise<void>
    /** The callback form: nothing is returned; `callback` gets the outcome, once. */
    (callback: SessionCallback): undefined
  }
  /** Re-sends the cookie (refreshing `cookie.maxAge`); Redis expiry already slides on every read. */
  touch: () => void
  /** Drops unsaved changes and reads the session again from Redis. */
  reload: {
    (): Promise<void>
    /** The callback form: nothing is returned; `callback` gets the outcome, once. */
    (callback: SessionCallback): undefined
  }
  /** Writes pending changes now instead of before the response goes out. */
  save: {
    (): Promise<void>
    /** The callback form: nothing is returned; `callback` gets the outcome, once. */
    (callback: SessionCallback): undefined
  }
}

/** `fastify.decryptSession` (see decrypt.ts). */
export interface DecryptSession {
  /** Makes `request.session` the session `value` (an `encryptedSessionId`) names; `callback` gets the outcome. */
  (value: string, request: FastifyRequest, callback: SessionCallback): undefined
  /** As @fastify/session's four-argument form; only `{}` is accepted: set attributes with `request.session.options()` once loaded. */
  (value: string, request: FastifyRequest, cookieOptions: Record<string, never>, callback: SessionCallback): undefined
  /** Without a callback: a promise. */
  (value: string, request: FastifyRequest): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Loads the session a cookie value names into `request.session` (@scaleout/session, as in @fastify/session). */
    decryptSession: DecryptSession
    /** Per-user session management (@scaleout/session). */
    sessions: SessionsApi
  }
  interface FastifyRequest {
    /** The request's session (@scaleout/session), loaded from Redis before the handler runs (on demand on a `session: 'lazy'` route). */
    session: RequestSession
  }
  interface FastifyContextConfig {
    /**
     * `false`: this route never reads Redis nor sets the session cookie (static assets, probes).
     * `'lazy'`: the session is not read before the handler; `destroy()` and `regenerate()` work
     * without reading it (a logout is one round trip), and `await request.session.reload()` reads it.
     */
    session?: boolean | 'lazy'
  }
}
