import { createHmac, timingSafeEqual } from 'node:crypto'

// The consistency token: "1.<lsn hex>.<issued ms, base 36>.<HMAC-SHA256 base64url>". The LSN is the
// primary's WAL insert position after the client's write committed; the time lets an instance tell
// an impossible token (ahead of a primary position observed after it was issued) from a fresh one.
// Signed so a client can neither raise its LSN nor date it forward.

const VERSION = '1'
export const MAX_TOKEN = 80
const SHAPE = /^1\.([0-9a-f]{1,16})\.([0-9a-z]{1,9})\.([A-Za-z0-9_-]{43})$/
/**
 * Clocks of two instances may differ by this much. A token dated further ahead (signed by an
 * instance whose clock is fast) is taken as issued now: refused, it would send that client's reads
 * to a replica without its write; dated as it says, it would put off the check against the primary.
 */
export const CLOCK_SKEW_MS = 5_000

export interface Token {
  readonly lsn: bigint
  readonly issuedAt: number
}

function signature (body: string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('base64url')
}

export function signToken (lsn: bigint, issuedAt: number, secrets: readonly string[]): string {
  const body = `${VERSION}.${lsn.toString(16)}.${issuedAt.toString(36)}`
  return body + '.' + signature(body, secrets[0] as string)
}

/**
 * The token a header or cookie carries, or null for anything not ours: wrong shape (checked before
 * any HMAC, so garbage costs nothing) or bad signature (constant-time, against every secret). A
 * date further ahead than CLOCK_SKEW_MS is read as `now`.
 */
export function verifyToken (value: string, secrets: readonly string[], now: number): Token | null {
  if (value.length > MAX_TOKEN) return null
  const match = SHAPE.exec(value)
  if (match === null) return null
  const dated = parseInt(match[2] as string, 36)
  const issuedAt = dated > now + CLOCK_SKEW_MS ? now : dated
  const body = value.slice(0, value.lastIndexOf('.'))
  const given = Buffer.from(match[3] as string, 'latin1')
  for (const secret of secrets) {
    // Comparing the text, not decoded bytes, refuses non-canonical base64 spellings.
    if (timingSafeEqual(given, Buffer.from(signature(body, secret), 'latin1'))) {
      return { lsn: BigInt('0x' + (match[1] as string)), issuedAt }
    }
  }
  return null
}

/** How many verified tokens an instance remembers. */
export const VERIFIED_TOKENS = 1024

/**
 * verifyToken with a memory of the tokens it verified: a client sends the same token with every
 * request until its next write, and an HMAC per request would cost more than the routing it decides.
 * Only valid tokens are kept (a token valid once stays valid: its date only falls further behind;
 * one dated ahead keeps the date it was first read with), keyed by their exact text, at most
 * VERIFIED_TOKENS, the oldest dropped first.
 */
export class VerifiedTokens {
  private readonly secrets: readonly string[]
  private readonly known = new Map<string, Token>()

  constructor (secrets: readonly string[]) {
    this.secrets = secrets
  }

  get size (): number {
    return this.known.size
  }

  verify (value: string, now: number): Token | null {
    const cached = this.known.get(value)
    if (cached !== undefined) return cached
    const token = verifyToken(value, this.secrets, now)
    if (token !== null) {
      if (this.known.size >= VERIFIED_TOKENS) this.known.delete(this.known.keys().next().value as string)
      this.known.set(value, token)
    }
    return token
  }
}
