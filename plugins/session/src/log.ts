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
// Logins (the user index changes with them), writes that find the text due for compaction, and
// writes whose length the request does not know merge in a script (WRITE in scripts.ts).
//
// Why the reply can be read so: fragments are padded to a multiple of BLOCK bytes, so appends never
// change a session's length modulo BLOCK. Every rewrite of a session (a compaction) moves that
// residue to the next of 1..BLOCK-1, and records that are not sessions are exactly BLOCK bytes
// (residue 0, which no session has). A missing key that APPEND creates holds the fragment alone,
// residue 0 as well.

/** Fragments are padded to multiples of this many bytes; records that are not sessions are this long. */
export const BLOCK = 64

/** The fields a write appends: `,"d:k":"<value>"` for each set, `,"d:k":null` for each removal, padded. */
export function fragment (sets: readonly string[], deletes: readonly string[]): string {
  let text = ''
  for (let i = 0; i < sets.length; i += 2) text += ',' + JSON.stringify(sets[i]) + ':' + JSON.stringify(sets[i + 1])
  for (const field of deletes) text += ',' + JSON.stringify(field) + ':null'
  const rest = Buffer.byteLength(text) % BLOCK
  return rest === 0 ? text : text + ' '.repeat(BLOCK - rest)
}

/**
 * Whether the stored text has grown enough to be rewritten: more than twice the data plus 1 KiB
 * (room for the metadata and for small sessions to take many writes first). Reads stay close to
 * the cost of the session's own size, and a rewrite is paid once per that many appended bytes.
 */
export function needsCompaction (logBytes: number, dataBytes: number): boolean {
  return logBytes > 2 * dataBytes + 1024
}
