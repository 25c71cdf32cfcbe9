import { BLOCK } from './fields.js'
import type { Stored } from './stored.js'

// How a write reaches Redis without Redis decoding the session (see fields.ts for the format).
//
// A modifying request read the session one round trip earlier, so it knows the exact stored text.
// Its write is one plain APPEND of the changed fields, no script: Redis does no more work than the
// change itself, whatever the session's size. APPEND's reply, the text's new length, then says
// what the fields landed on (store.ts acts on it):
// - the length the request expects (the text it read plus its fragment): nobody else wrote since,
//   so the checks the request made before writing (deadline, maxBytes) hold for the session as is;
// - a whole number of blocks: not a session. The session was destroyed (the APPEND made the key:
//   it is deleted again) or replaced by a record, whose first block is all readers take;
// - anything else: another writer got there first. Both writers' fields are in, and the last value
//   of each field wins, as a merge would have it. maxBytes alone is left, and only a text longer
//   than it can hold data over it (the data never takes more bytes than its text): then a script
//   checks, and takes back a write that grew the data past it.
// A write that finds the text due for compaction sends it rewritten whole instead (compacted()
// below), which Redis keeps only while nobody wrote since, in a script that decodes nothing
// (COMPACT in scripts.ts); otherwise the fragment is appended as above. The scripts that decode the
// session anyway (a login's merge, the maxBytes check after a race) rewrite a text that is due:
// writes that each race another, or logins alone, would otherwise only ever append to it. Logins (the user index
// changes with them), changes of the session's own cookie attributes (the script sets the expiry
// by its idle time too), and writes whose length the request does not know (after a race, or due
// for compaction after the request wrote already), merge in a script (WRITE in scripts.ts).
//
// Why the reply can be read so: fragments are padded to a multiple of BLOCK bytes, so appends never
// change a session's length modulo BLOCK. Every rewrite of a session (a compaction) moves that
// residue to the next of 1..BLOCK-1, and records that are not sessions are exactly BLOCK bytes
// (residue 0, which no session has). A missing key that APPEND creates holds the fragment alone,
// residue 0 as well.

/** How a write goes without a merge: appended to the text `length` bytes long, or that text replaced by `compacted`. */
export interface WritePlan {
  length: number
  compacted: string | null
  /** The stored session the request read (an append right behind it extends what its instance keeps: see recent.ts). */
  read: Stored
}

/** `,"<field>":<value as JSON>`: one field of the stored text as a write adds it. */
function entry (field: string, value: string | null): string {
  return ',' + JSON.stringify(field) + ':' + JSON.stringify(value)
}

/** `text` padded with spaces to a length (in bytes) of `residue` modulo BLOCK. */
function padded (text: string, residue: number): string {
  return text + ' '.repeat((residue - Buffer.byteLength(text) % BLOCK + BLOCK) % BLOCK)
}

/** The fields a write appends: `,"d:k":"<value>"` for each set, `,"d:k":null` for each removal, padded. */
export function fragment (sets: readonly string[], deletes: readonly string[]): string {
  let text = ''
  for (let i = 0; i < sets.length; i += 2) text += entry(sets[i] as string, sets[i + 1] as string)
  for (const field of deletes) text += entry(field, null)
  return padded(text, 0)
}

/** The rule of needsCompaction, shared with the scripts that compact (see dueLua in scripts.ts). */
export const COMPACT_RATIO = 1.25
export const COMPACT_SLACK = 1024

/**
 * Whether the stored text has grown enough to be rewritten: more than the data and a quarter plus
 * 1 KiB (room for the metadata and for small sessions to take many writes first). A read parses
 * everything appended since its instance last parsed the text whole (see recent.ts), and a rewrite
 * makes every instance parse it whole again, so the text is kept close to the session's own size;
 * a rewrite costs Redis about one SET of the session (see compacted), paid once per that many
 * appended bytes.
 */
export function needsCompaction (logBytes: number, dataBytes: number): boolean {
  return logBytes > dataBytes * COMPACT_RATIO + COMPACT_SLACK
}

/**
 * The stored text rewritten compacted, from the `fields` a request read with its `sets` and
 * `deletes` applied: one field each, removed ones (null) dropped, left open, padded so that its
 * length modulo BLOCK is the residue after that of the `previous` text (see above). The write
 * sends it with the length it read: Redis keeps it only while the text is still that long
 * (COMPACT in scripts.ts). Only for a session, whose metadata fields are never removed, so the
 * object is never empty.
 */
export function compacted (fields: Iterable<[string, unknown]>, sets: readonly string[], deletes: readonly string[], previous: number): string {
  const next = new Map<string, string>()
  for (const [field, value] of fields) if (typeof value === 'string') next.set(field, value)
  for (let i = 0; i < sets.length; i += 2) next.set(sets[i] as string, sets[i + 1] as string)
  for (const field of deletes) next.delete(field)
  let text = ''
  for (const [field, value] of next) text += entry(field, value)
  return padded('{' + text.slice(1), (previous % BLOCK) % (BLOCK - 1) + 1)
}
