import { createHmac, timingSafeEqual } from 'node:crypto'

// The consistency token: "1.<lsn hex>.<issued ms, base 36>.<HMAC-SHA256 base64url>". The LSN is the
// primary's WAL insert position after the client's write committed. Signed so a client can change
// neither. The issue time is by the clock of the instance that signed it: see routing's required()
// for how little it is trusted.

const VERSION = '1'
export const MAX_TOKEN = 80
const SHAPE = /^1\.([0-9a-f]{1,16})\.([0-9a-z]{1,9})\.([A-Za-z0-9_-]{43})$/
/** How far apart the clocks of two instances are taken to be, at most, when a token's date is read. */
export const CLOCK_SKEW_MS = 5_000

export interface Token {
  readonly lsn: bigint
  /** When the instance that signed it says it was issued, by that instance's clock. */
  readonly issuedAt: number
  /**
   * When this instance first read it, by its own clock: the write had committed by then, so a primary
   * sampled later and found behind the token shows it cannot be true, whatever the clocks of the
   * instances say.
   */
  readonly seenAt: number
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
 * any HMAC, so garbage costs nothing) or bad signature (constant-time, against every secret).
 */
export function verifyToken (value: string, secrets: readonly string[], now: number): Token | null {
  if (value.length > MAX_TOKEN) return null
  const match = SHAPE.exec(value)
  if (match === null) return null
  const issuedAt = parseInt(match[2] as string, 36)
  const body = value.slice(0, value.lastIndexOf('.'))
  const given = Buffer.from(match[3] as string, 'latin1')
  for (const secret of secrets) {
    // Comparing the text, not decoded bytes, refuses non-canonical base64 spellings.
    if (timingSafeEqual(given, Buffer.from(signature(body, secret), 'latin1'))) {
      return { lsn: BigInt('0x' + (match[1] as string)), issuedAt, seenAt: now }
    }
  }
  return null
}

/** How many verified tokens an instance remembers. */
export const VERIFIED_TOKENS = 1024

/**
 * verifyToken with a memory of the tokens it verified: a client sends the same token with every
 * request until its next write, and an HMAC per request would cost more than the routing it decides.
 * Only valid tokens are kept (a token valid once stays valid), with the time they were first read,
 * keyed by their exact text, at most VERIFIED_TOKENS, the oldest dropped first (read again, one is
 * seen anew: its check against the primary waits for the next sample, which costs reads on the
 * primary at most).
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
