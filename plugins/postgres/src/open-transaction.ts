import { DbOpenTransactionError } from './errors.js'
import { blank } from './sql-text.js'
import type { Statement } from './types.js'

// query() borrows a connection for one statement text and gives it back. A text that opens a
// transaction and does not end it gives the pool back a connection inside that transaction: the
// next caller's statements join it, and whatever it "committed" is lost when the connection goes.

/** Only texts with one of these words can open a transaction: the rest skip the scan. */
const MAY_OPEN = /\b(?:begin|start)\b/i
const OPENS = /^(?:begin|start\s+transaction)\b/i
const ENDS = /^(?:commit|end|abort|rollback|prepare\s+transaction)\b/i
const ENDS_NOTHING = /^(?:rollback\s+(?:to|prepared)|commit\s+prepared)\b/i
// COMMIT AND CHAIN and ROLLBACK AND CHAIN start the next transaction at once.
const CHAIN = /\band\s+chain\b/i

/** Whether the statements of `sql`, run in order, end inside a transaction. */
export function leavesTransactionOpen (sql: string): boolean {
  if (!MAY_OPEN.test(sql)) return false
  let open = false
  for (const statement of blank(sql).split(';')) {
    const start = statement.trimStart()
    if (OPENS.test(start)) open = true
    else if (ENDS.test(start) && !ENDS_NOTHING.test(start)) open = CHAIN.test(start)
  }
  return open
}

/** Throws SCALEOUT_ERR_DB_OPEN_TRANSACTION for a statement that would leave its connection inside a transaction. */
export function refuseOpenTransaction (statement: Statement): void {
  const text = typeof statement === 'string' ? statement : statement.text
  if (typeof text === 'string' && leavesTransactionOpen(text)) throw new DbOpenTransactionError()
}
