// How a write reaches Redis without Redis decoding the session (see fields.ts for the format).
//
// A modifying request read the session one round trip earlier, so it knows the exact stored text.
// The write script (WRITE in scripts.ts) first appends the changed fields with one APPEND, and
// keeps them only when APPEND's reply is the length the request expects: the text it read plus its
// fragment, which proves nobody else changed the session since. Redis then does no more work than
// the change itself, whatever the session's size. Anything else (a parallel writer got there
// first, the session was destroyed or regenerated, the user changes, the log needs compacting)
// merges, in the same call: the script decodes the session and decides exactly, as every write
// used to.
//
// Why lengths are trustworthy: fragments are padded to a multiple of BLOCK bytes, so appends never
// change a session's length modulo BLOCK. Every rewrite of a session (a compaction) moves that
// residue to the next of 1..BLOCK-1, and records that are not sessions are exactly BLOCK bytes
// (residue 0, which no session has): after any of those, no run of appends can bring the length
// back to what a writer expects, short of BLOCK - 1 compactions during one request.

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
