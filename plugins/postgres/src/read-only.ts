import pg from 'pg'
import { DbUnsupportedDriverError } from './errors.js'

// A read that lands on the primary (no replica in rotation, a token ahead of them, a retry, none
// configured) runs in a read-only transaction, as it would on a replica. Otherwise a statement that
// writes (nextval(), a function that inserts) failed on a replica but committed on the primary with
// no token, and the client's next read, on a replica without that write, did not see it. Now such a
// statement fails wherever it runs, and nothing is written.
//
// The setting rides in the same round trip as the statement: a custom query (pg's Submittable, as
// pg-cursor is) sends set_config() first, then the statement. Sent with values (the extended
// protocol), both run before one Sync, in one transaction; as a text (the simple protocol), they are
// two statements of one message, one implicit transaction. Either way the setting ends with that
// transaction, so the pooled connection goes back as it was, and behind PgBouncer it never outlives
// the transaction. What set_config() answers is not passed on: the caller sees its statement's
// results as it would without it.

const READ_ONLY = "SELECT set_config('transaction_read_only', 'on', true)"

/** The members of pg's Query (and of the connection it writes to) that this subclass relies on. */
interface Connection {
  query: (text: string) => void
  parse: (config: { text: string }) => void
  bind: (config: Record<string, never>) => void
  execute: (config: Record<string, never>) => void
}
interface QueryInternals {
  text: string
  requiresPreparation (): boolean
  prepare (connection: Connection): void
  submit (connection: Connection): Error | null
  handleRowDescription (msg: unknown): void
  handleDataRow (msg: unknown): void
  handleCommandComplete (msg: unknown, connection: Connection): void
}
type QueryClass = new (config: pg.QueryConfig | string, values: unknown[] | undefined, callback: (err: Error | null, result: unknown) => void) => QueryInternals

const Query = pg.Query as unknown as QueryClass

// pg's Query members the subclass below overrides or calls: they are not pg's documented API, and
// a pg whose Query lacked one would send reads that are not read-only, or garble their results.
const USED = ['requiresPreparation', 'prepare', 'submit', 'handleRowDescription', 'handleDataRow', 'handleCommandComplete'] as const

/** Throws SCALEOUT_ERR_DB_UNSUPPORTED_DRIVER, at registration, when the installed pg lacks one of them. */
export function checkDriver (): void {
  const proto = Query.prototype as unknown as Record<string, unknown>
  const missing = USED.find((name) => typeof proto[name] !== 'function')
  if (missing !== undefined) throw new DbUnsupportedDriverError(missing)
}

/** pg's Query with set_config('transaction_read_only', 'on', true) sent ahead of it. */
export class ReadOnlyQuery extends Query {
  /** Until set_config()'s answer is complete, what arrives is its, not the caller's. */
  private ours = true

  override submit (connection: Connection): Error | null {
    if (this.requiresPreparation()) return super.submit(connection)
    // A text with no values goes as one simple-protocol message; its statements share the implicit
    // transaction the setting starts.
    const text = this.text
    this.text = `${READ_ONLY};${text}`
    try {
      return super.submit(connection)
    } finally {
      this.text = text
    }
  }

  override prepare (connection: Connection): void {
    connection.parse({ text: READ_ONLY })
    connection.bind({})
    connection.execute({})
    super.prepare(connection)
  }

  override handleRowDescription (msg: unknown): void {
    if (!this.ours) super.handleRowDescription(msg)
  }

  override handleDataRow (msg: unknown): void {
    if (!this.ours) super.handleDataRow(msg)
  }

  override handleCommandComplete (msg: unknown, connection: Connection): void {
    if (this.ours) this.ours = false
    else super.handleCommandComplete(msg, connection)
  }
}
