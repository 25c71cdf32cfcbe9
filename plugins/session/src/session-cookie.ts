import { invalid, type CookieAttributes } from '@scaleout/core'
import { PLUGIN } from './options.js'
import type { SessionCookie as SessionCookieApi } from './types.js'

/** What the view reads from and writes to its session (see state.ts). */
export interface CookieSource {
  /** When the cookie this response sends expires (ms since the epoch), or null without Max-Age. */
  expiresAt: () => number | null
  /** The maxAge in force (milliseconds, whole seconds; Max-Age unless the deadline is sooner), or null. */
  originalMaxAge: () => number | null
  attributes: () => CookieAttributes
  /** Whether the cookie is Secure on this request. */
  secure: () => boolean
  setMaxAge: (value: unknown) => void
}

function readOnly (name: string): never {
  throw invalid(PLUGIN, `session.cookie.${name}`, `not set directly: call \`request.session.options({ ${name === 'expires' ? 'maxAge' : name} })\``)
}

/**
 * `request.session.cookie`, as @fastify/session's: the session cookie's lifetime (`maxAge`, which a
 * handler may set for this session alone) and attributes, as this response sends them.
 */
export class SessionCookie implements SessionCookieApi {
  readonly #source: CookieSource

  constructor (source: CookieSource) {
    this.#source = source
  }

  get expires (): Date | null {
    const at = this.#source.expiresAt()
    return at === null ? null : new Date(at)
  }

  set expires (_value: Date | null) { readOnly('expires') }

  get maxAge (): number | null {
    const at = this.#source.expiresAt()
    return at === null ? null : at - Date.now()
  }

  set maxAge (value: number | string | null) {
    this.#source.setMaxAge(value)
  }

  get originalMaxAge (): number | null {
    return this.#source.originalMaxAge()
  }

  get path (): string { return this.#source.attributes().path }
  set path (_value: string) { readOnly('path') }
  get domain (): string | null { return this.#source.attributes().domain ?? null }
  set domain (_value: string | null) { readOnly('domain') }
  get secure (): boolean { return this.#source.secure() }
  set secure (_value: boolean) { readOnly('secure') }
  get sameSite (): 'lax' | 'strict' | 'none' { return this.#source.attributes().sameSite }
  set sameSite (_value: 'lax' | 'strict' | 'none') { readOnly('sameSite') }
  get httpOnly (): boolean { return this.#source.attributes().httpOnly }
  set httpOnly (_value: boolean) { readOnly('httpOnly') }
  get partitioned (): boolean { return this.#source.attributes().partitioned }
  set partitioned (_value: boolean) { readOnly('partitioned') }

  /** As @fastify/session's, so a cookie sent in a reply shows its values. */
  toJSON (): Record<string, unknown> {
    return {
      expires: this.expires,
      originalMaxAge: this.originalMaxAge,
      path: this.path,
      domain: this.domain,
      secure: this.secure,
      sameSite: this.sameSite,
      httpOnly: this.httpOnly,
      partitioned: this.partitioned
    }
  }
}
