// WAL positions (pg_lsn, "16/B374D848") as bigints, so positions compare and subtract exactly.

/** The largest position a pg_lsn holds: a token for a write whose position could not be read. */
export const MAX_LSN = 0xffffffffffffffffn

const LSN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/

/** The position a pg_lsn text names, or null for NULL or anything else. */
export function parseLsn (text: unknown): bigint | null {
  if (typeof text !== 'string') return null
  const match = LSN.exec(text)
  if (match === null) return null
  return (BigInt('0x' + (match[1] as string)) << 32n) | BigInt('0x' + (match[2] as string))
}

export function formatLsn (lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`
}

/** A position read back from the primary; unreadable means unknown, so the largest (reads go to the primary). */
export function positionOf (text: unknown): bigint {
  return parseLsn(text) ?? MAX_LSN
}

export function maxLsn (a: bigint | null, b: bigint): bigint {
  return a === null || b > a ? b : a
}
