import { createError } from '@fastify/error'
import { coreErrors } from '@scaleout/core'

// Every error the postgres plugin raises, in one place, so codes stay unique and greppable.
// Messages name the role (primary, replica) and what happened, never the server's own text:
// that stays on `cause` for logs.

export const PLUGIN = '@scaleout/postgres'

/** Registration found no primary: neither the `primary` option nor DATABASE_URL. */
export const DbNotConfiguredError = createError(
  'SCALEOUT_ERR_DB_NOT_CONFIGURED',
  '@scaleout/postgres needs a primary: pass the `primary` option (a postgres:// URL, a pg config object or a pg.Pool) or set DATABASE_URL',
  500
)

/** A host refused or dropped the connection before the statement could run. Nothing was executed. */
export const DbUnavailableError = createError(
  'SCALEOUT_ERR_DB_UNAVAILABLE',
  'The database (%s) is unavailable; try again shortly',
  503
)

/** The call's deadline (`timeout`) passed before a connection was free or the statement answered. */
export const DbTimeoutError = createError(
  'SCALEOUT_ERR_DB_TIMEOUT',
  'The database (%s) did not answer within %dms',
  503
)

/**
 * The primary stopped answering after it received a write: it may or may not have committed.
 * Never retried: the caller decides (check, then redo if idempotent).
 */
export const DbOutcomeUnknownError = createError(
  'SCALEOUT_ERR_DB_OUTCOME_UNKNOWN',
  'The primary stopped answering after receiving a write: it may or may not have committed, and it was not retried',
  503
)

/** The primary answered SQLSTATE 25006: it is read-only (demoted, or still in recovery). Nothing was written. */
export const DbReadOnlyError = createError(
  'SCALEOUT_ERR_DB_READ_ONLY',
  'The primary refused the write because it is read-only (demoted or in recovery); nothing was written',
  503
)

/** A statement that keeps session state, which PgBouncer transaction pooling breaks, was refused before it ran. */
export const DbSessionStateError = createError(
  'SCALEOUT_ERR_DB_SESSION_STATE',
  '%s is refused behind PgBouncer in transaction mode (the next statement may run on another server connection): %s',
  500
)

/**
 * A statement outside transaction() calls currval() or lastval(), which answer for the server session
 * that runs them: not necessarily the one the caller's nextval() ran on. Refused before it ran.
 */
export const DbSessionSequenceError = createError(
  'SCALEOUT_ERR_DB_SESSION_SEQUENCE',
  '%s is refused outside fastify.db.transaction(): it answers for the server session that runs it, and each query() may run on another connection than the statement before it, so it could return another caller\'s id or fail as not yet defined in this session; use INSERT ... RETURNING id, or run both statements inside fastify.db.transaction()',
  500
)

/**
 * A statement sent through read() tried to write (nextval(), a function that writes, a row lock):
 * reads run read-only on the primary as on a replica, so it fails wherever it runs, and nothing was
 * written. Through write() it runs on the primary and the client gets its token.
 */
export const DbWriteInReadError = createError(
  'SCALEOUT_ERR_DB_WRITE_IN_READ',
  'A statement sent through read() tried to write (nextval(), a function that writes, SELECT ... FOR UPDATE): nothing was written; send it through write() or transaction(), which run it on the primary and give the client its token',
  500
)

/** A query() text that opens a transaction without ending it was refused before it ran. */
export const DbOpenTransactionError = createError(
  'SCALEOUT_ERR_DB_OPEN_TRANSACTION',
  'A statement that leaves a transaction open (BEGIN without COMMIT or ROLLBACK in the same text) is refused: its connection would go back to the pool inside the transaction, and other callers\' statements would join it; use transaction()',
  500
)

/**
 * A tx.query text inside transaction() ended the transaction (COMMIT, ROLLBACK, ...): what followed
 * would run outside it, and a throw would roll none of it back. Refused before it ran.
 */
export const DbTransactionControlError = createError(
  'SCALEOUT_ERR_DB_TRANSACTION_CONTROL',
  'A statement that ends the transaction (COMMIT, ROLLBACK, END, ABORT, PREPARE TRANSACTION) is refused inside transaction(): the statements after it would run outside the transaction, each committed on its own (behind PgBouncer, on whichever server connection), and a throw would roll none of them back; return from the callback to commit, or throw to roll back',
  500
)

/** A query or transaction handle was used after its transaction ended. */
export const DbTransactionDoneError = createError(
  'SCALEOUT_ERR_DB_TRANSACTION_DONE',
  'This transaction has already ended: run statements inside the transaction callback and await them',
  500
)

/** COMMIT found the transaction aborted (a statement in it failed and the error was caught): nothing was committed. */
export const DbRolledBackError = createError(
  'SCALEOUT_ERR_DB_ROLLED_BACK',
  'The transaction was rolled back, not committed: a statement in it failed',
  500
)

/** The plugin was closed (fastify.close()) and the pools ended. */
export const DbClosedError = createError(
  'SCALEOUT_ERR_DB_CLOSED',
  'The database pools are closed',
  503
)

/**
 * The pg (node-postgres) installed lacks a member of its Query that reads rely on to run read-only
 * (see read-only.ts): refused at registration rather than sending reads that might not be.
 */
export const DbUnsupportedDriverError = createError(
  'SCALEOUT_ERR_DB_UNSUPPORTED_DRIVER',
  'The installed pg (node-postgres) has no Query.prototype.%s, which @scaleout/postgres needs to run reads read-only: install the pg version its package.json names',
  500
)

/** Every error the plugin can throw, keyed by code, the core ones (such as SCALEOUT_ERR_INVALID_OPTION) included. */
export const errors = Object.freeze({
  ...coreErrors,
  SCALEOUT_ERR_DB_NOT_CONFIGURED: DbNotConfiguredError,
  SCALEOUT_ERR_DB_UNAVAILABLE: DbUnavailableError,
  SCALEOUT_ERR_DB_TIMEOUT: DbTimeoutError,
  SCALEOUT_ERR_DB_OUTCOME_UNKNOWN: DbOutcomeUnknownError,
  SCALEOUT_ERR_DB_READ_ONLY: DbReadOnlyError,
  SCALEOUT_ERR_DB_SESSION_STATE: DbSessionStateError,
  SCALEOUT_ERR_DB_SESSION_SEQUENCE: DbSessionSequenceError,
  SCALEOUT_ERR_DB_OPEN_TRANSACTION: DbOpenTransactionError,
  SCALEOUT_ERR_DB_WRITE_IN_READ: DbWriteInReadError,
  SCALEOUT_ERR_DB_TRANSACTION_CONTROL: DbTransactionControlError,
  SCALEOUT_ERR_DB_TRANSACTION_DONE: DbTransactionDoneError,
  SCALEOUT_ERR_DB_ROLLED_BACK: DbRolledBackError,
  SCALEOUT_ERR_DB_CLOSED: DbClosedError,
  SCALEOUT_ERR_DB_UNSUPPORTED_DRIVER: DbUnsupportedDriverError
})
