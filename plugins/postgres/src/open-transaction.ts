import { DbOpenTransactionError, DbTransactionControlError } from './errors.js'
import { blank, statements } from './sql-text.js'
import type { Statement } from './types.js'

// query() borrows a connection for one statement text and gives it back. A text that opens a
// transaction and does not end it gives the pool back a connection inside that transaction: the
// next caller's statements join it, and whatever it "committed" is lost when the connection goes.
// So does a text that would end it, when a statement after its BEGIN fails: the rest of the text,
// its COMMIT with it, is skipped, and the connection stays inside the aborted transaction.

/** Only texts with one of these words can open a transaction: the rest skip the scan. */
const MAY_OPEN = /\b(?:begin|start)\b/i
const OPENS = /^(?:begin|start\s+transaction)\b/i
const ENDS = /^(?:commit|end|abort|rollback|prepare\s+transaction)\b/i
const ENDS_NOTHING = /^(?:rollback\s+(?:to|prepared)|commit\s+prepared)\b/i
// COMMIT AND CHAIN and ROLLBACK AND CHAIN start the next transaction at once.
const CHAIN = /\band\s+chain\b/i

/** Whether the statements of a blanked text, run in order, end inside a transaction; null if none opens one. */
function endsOpen (text: string): boolean | null {
  let open = false
  let opened = false
  // A SQL-standard function body (CREATE FUNCTION ... BEGIN ATOMIC ...; ...; END) holds `;`s, and its
  // last word is END: statements() keeps it inside its CREATE, where that END closes nothing.
  for (const statement of statements(text)) {
    const start = statement.trimStart()
    if (OPENS.test(start)) open = opened = true
    else if (ENDS.test(start) && !ENDS_NOTHING.test(start)) open = CHAIN.test(start)
  }
  return opened ? open : null
}

/**
 * What the statements of `sql` do to the transaction state, read as PostgreSQL may read them: where
 * standard_conforming_strings is off (a role default), a backslash escapes a quote in every string,
 * and a BEGIN or COMMIT may lie outside a string it seems to be in. Either reading counts.
 */
function readings (sql: string): Array<boolean | null> {
  if (!MAY_OPEN.test(sql)) return [null]
  return sql.includes('\\') ? [endsOpen(blank(sql)), endsOpen(blank(sql, true))] : [endsOpen(blank(sql))]
}

/** Whether the statements of `sql`, run in order, end inside a transaction. */
export function leavesTransactionOpen (sql: string): boolean {
  return readings(sql).includes(true)
}

/** Whether some statement of `statement` opens a transaction: when a later one fails, the connection is left inside it. */
export function opensTransaction (statement: Statement): boolean {
  const text = typeof statement === 'string' ? statement : statement.text
  return typeof text === 'string' && readings(text).some((reading) => reading !== null)
}

/** Throws SCALEOUT_ERR_DB_OPEN_TRANSACTION for a statement that would leave its connection inside a transaction. */
export function refuseOpenTransaction (statement: Statement): void {
  const text = typeof statement === 'string' ? statement : statement.text
  if (typeof text === 'string' && leavesTransactionOpen(text)) throw new DbOpenTransactionError()
}

/** Only texts with one of these words can end a transaction: the rest skip the scan. */
const MAY_END = /\b(?:commit|end|abort|rollback|prepare)\b/i

/** Whether some statement of a blanked text ends the transaction it runs in. */
function endsSome (text: string): boolean {
  return statements(text).some((statement) => {
    const start = statement.trimStart()
    return ENDS.test(start) && !ENDS_NOTHING.test(start)
  })
}

/**
 * Throws SCALEOUT_ERR_DB_TRANSACTION_CONTROL for a statement inside transaction() that ends the
 * transaction: the statements after it would each commit on their own, and a throw in the callback
 * would roll none of them back. Read both ways where a backslash may escape a quote.
 */
export function refuseTransactionControl (statement: Statement): void {
  const text = typeof statement === 'string' ? statement : statement.text
  if (typeof text !== 'string' || !MAY_END.test(text)) return
  if (endsSome(blank(text)) || (text.includes('\\') && endsSome(blank(text, true)))) throw new DbTransactionControlError()
}
