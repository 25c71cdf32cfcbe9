import { safeJsonParse } from '@scaleout/core'

// A session is one Redis string: a JSON object whose fields are `d:<key>` (an encoded value) and
// `m:*` metadata (created, deadline, ip, user agent, user id). The prefixes keep user keys from
// ever colliding with metadata; every field is a string (or null: a removed key), so Lua's cjson
// never touches a number. The object is left open (no closing brace): a write appends its changed
// fields to it, `,"d:k":"v"`, and readers close it; JSON keeps the last of repeated fields, so the
// log reads as the merged session without Redis decoding it (see log.ts). Records that are not
// sessions (a regenerated session's forwarding record, destroyAllFor's marker) are closed objects.
export const DATA = 'd:'
export const META_USER = 'm:u'
export const META_CREATED = 'm:c'
export const META_DEADLINE = 'm:d'
/** The address and User-Agent a session was created from (see withClient in changes.ts). */
export const META_IP = 'm:ip'
export const META_AGENT = 'm:ua'
/** A regenerated session's forwarding record (see scripts.ts). */
export const META_NEXT = 'm:n'
/** In a session made by regenerate(): the part after its slot tag of the id it replaced (see scripts.ts). */
export const META_PREVIOUS = 'm:p'

/**
 * Fragments are padded to multiples of this many bytes; records that are not sessions are this
 * long (see log.ts for why).
 */
export const BLOCK = 64

export type Fields = Readonly<Record<string, unknown>>

/** The stored fields (a removed key reads as null), or null when the text is not a session or record (corrupt, or written by someone else). */
export function parseStored (text: string | null): Fields | null {
  if (text === null) return null
  const fields = parseObject(text.endsWith('}') ? text : text + '}')
  // A record that writes expecting a session appended to: its first block is the record (see log.ts).
  if (fields === null && text.length > BLOCK && Buffer.byteLength(text) % BLOCK === 0) return parseObject(text.slice(0, BLOCK))
  return fields
}

/** The fields of appended text (what follows the comma before its first field), or null when it is not fields. */
export function parseAppended (text: string): Fields | null {
  return parseObject('{' + text + '}')
}

/** A closed JSON object's fields, or null. */
function parseObject (text: string): Fields | null {
  // Text that parses and ends with a closing brace is a JSON object: no other JSON value ends so.
  if (!text.endsWith('}')) return null
  try {
    // The core's parse: no own __proto__ in what Redis hands back, however it is spelled.
    return safeJsonParse(text) as Fields
  } catch {
    return null
  }
}
