// WAL positions (pg_lsn, "16/B374D848") as bigints, so positions compare and subtract exactly.

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

/** The largest position a pg_lsn holds: a token for a write whose position could not be read. */
export const MAX_LSN = 0xffffffffffffffffn

export function maxLsn (a: bigint | null, b: bigint | null): bigint | null {
  if (a === null) return b
  if (b === null) return a
  return a > b ? a : b
}
