import { DbSessionSequenceError } from './errors.js'
import { blank, statements } from './sql-text.js'
import type { Statement } from './types.js'

// currval() and lastval() answer with what the last nextval() of the server session that runs them
// returned. Outside a transaction each query() takes whichever pooled connection is free (behind
// PgBouncer, whichever server connection PgBouncer picks), so that nextval() may have been another
// caller's: the answer is then another caller's id, or an error ("not yet defined in this
// session"). Inside transaction() every statement runs on one connection, and they are allowed. A
// text of several statements runs on one connection too, but whether an earlier one calls nextval()
// (a serial default, a trigger) is not in the text: such a text is refused as well.

/** Only texts that hold one of the names, or a U&"..." identifier that may spell one, are read. */
const MAY_CALL = /currval|lastval|u&/i
// A letter, digit, `_` or `$` before the name makes it part of another name (`my_lastval`); a dot
// before it ends a schema name (`pg_catalog.lastval`).
const CALL = /(?<![A-Za-z0-9_$\u0080-\uffff])(currval|lastval)\s*\(/i

/**
 * The first call in a blanked text. A SQL-standard function body (BEGIN ATOMIC ... END, RETURN
 * ...) is not read: creating the function calls nothing, as with a body in a string.
 */
function calls (text: string): RegExpExecArray | null {
  return CALL.exec(statements(text).join(';'))
}

/** Throws SCALEOUT_ERR_DB_SESSION_SEQUENCE for a statement outside a transaction that calls currval() or lastval(). */
export function refuseSessionSequence (statement: Statement): void {
  const text = typeof statement === 'string' ? statement : statement.text
  if (typeof text !== 'string' || !MAY_CALL.test(text)) return
  // Where standard_conforming_strings is off a backslash escapes a quote in every string: the text
  // is read both ways, as the PgBouncer guard reads it.
  const call = calls(blank(text)) ?? (text.includes('\\') ? calls(blank(text, true)) : null)
  if (call !== null) throw new DbSessionSequenceError(`${(call[1] as string).toLowerCase()}()`)
}
