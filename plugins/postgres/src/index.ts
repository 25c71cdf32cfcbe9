import fp from 'fastify-plugin'
import { postgresPlugin } from './plugin.js'
import type { PostgresOptions } from './types.js'

export type * from './types.js'
export {
  errors, DbNotConfiguredError, DbUnavailableError, DbTimeoutError, DbOutcomeUnknownError, DbReadOnlyError,
  DbSessionStateError, DbSessionSequenceError, DbOpenTransactionError, DbWriteInReadError, DbTransactionControlError, DbTransactionDoneError, DbRolledBackError, DbClosedError, DbUnsupportedDriverError
} from './errors.js'
export { InvalidOptionError } from '@scaleout/core'
export { TOKEN_HEADER, ROUTE_HEADER } from './scope.js'

/** PostgreSQL with read replicas that never show a client stale data, and pooling safe behind PgBouncer. */
export const postgres = fp<PostgresOptions>(postgresPlugin, { fastify: '5.x', name: '@scaleout/postgres' })
export default postgres
