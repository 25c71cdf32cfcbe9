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

/** The primary's WAL page and segment sizes (wal_block_size, wal_segment_size), read by the sampler. */
export interface WalLayout { block: bigint, segment: bigint }

// XLOG page headers as PostgreSQL lays them out: a long one (40 bytes) opens every segment, a short
// one (24 bytes) every other page.
const LONG_HEADER = 40n
const SHORT_HEADER = 24n

/**
 * The end of the last record at or before an insert position. When the last record ends on a page
 * boundary (or a segment switch filled the segment), the insert position is already past the next
 * page's header, and a replica's replay position stops at the boundary: compared as they are, a
 * replica that has replayed everything looks behind for as long as the primary stays idle. No record
 * data lies inside a header, so the boundary stands for the position exactly. Unknown layout: as is.
 */
export function recordEnd (lsn: bigint, layout: WalLayout | null): bigint {
  if (layout === null) return lsn
  const inSegment = lsn % layout.segment
  if (inSegment === LONG_HEADER) return lsn - LONG_HEADER
  // Offset 24 of a segment's first page lies inside its long header: no insert position is there.
  if (inSegment > LONG_HEADER && lsn % layout.block === SHORT_HEADER) return lsn - SHORT_HEADER
  return lsn
}

/** A layout from the sampler's row, or null for anything that is not two positive integers. */
export function layoutOf (block: unknown, segment: unknown): WalLayout | null {
  const digits = /^[1-9]\d{0,15}$/
  if (typeof block !== 'string' || typeof segment !== 'string' || !digits.test(block) || !digits.test(segment)) return null
  return { block: BigInt(block), segment: BigInt(segment) }
}
