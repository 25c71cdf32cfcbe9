import Fastify from 'fastify'
import pg from 'pg'
import type { QueryResult } from 'pg'
import { describe, expect, test } from 'tstyche'
import postgres, {
  postgres as named, errors, DbNotConfiguredError, DbUnavailableError, DbTimeoutError, DbOutcomeUnknownError, DbReadOnlyError,
  DbSessionStateError, DbSessionSequenceError, DbOpenTransactionError, DbTransactionDoneError, DbRolledBackError, DbClosedError, InvalidOptionError,
  DbWriteInReadError, DbTransactionControlError, DbUnsupportedDriverError,
  type Db, type DbStats, type PostgresOptions, type Queryable, type RequestDb
} from '@scaleout/postgres'

const secret = 'a-secret-of-at-least-thirty-two-characters'
const app = Fastify()

describe('@scaleout/postgres options', () => {
  test('the default and the named export are the same plugin', () => {
    expect(named).type.toBe(postgres)
  })

  test('correct options compile', () => {
    expect(app.register(postgres)).type.not.toRaiseError()
    expect(app.register(postgres, { primary: 'postgres://app@db/app' })).type.not.toRaiseError()
    expect(app.register(postgres, {
      primary: { host: '/var/run/postgresql', database: 'app', max: 5 },
      replicas: [{ connectionString: 'postgres://r1/app', weight: 3 }, 'postgres://r2/app', { pool: new pg.Pool(), weight: 1 }],
      secret: [secret, secret],
      timeout: '2s',
      replicaWait: 50,
      maxLag: '10s',
      maxLagBytes: 16_000_000,
      sampleInterval: 1000,
      pgbouncer: '1.18',
      cookie: { name: 'dbt', sameSite: 'strict', secure: 'auto' },
      routeHeader: true,
      poolSize: 20
    })).type.not.toRaiseError()
    expect(app.register(postgres, { primary: new pg.Pool(), cookie: false, pgbouncer: true })).type.not.toRaiseError()
  })

  test('regression: every cookie attribute the options table lists compiles, httpOnly and partitioned among them', () => {
    expect(app.register(postgres, {
      primary: 'postgres://app@db/app',
      cookie: { name: 'dbt', path: '/', domain: 'example.com', secure: true, sameSite: 'none', httpOnly: false, partitioned: true }
    })).type.not.toRaiseError()
    expect(app.register(postgres, { cookie: { httpOnly: 'no' } })).type.toRaiseError()
    expect(app.register(postgres, { cookie: { partitioned: 1 } })).type.toRaiseError()
  })

  test('misuse fails to compile', () => {
    expect(app.register(postgres, { primary: 'postgres://db/app', maxlag: '10s' })).type.toRaiseError("'maxlag' does not exist")
    expect(app.register(postgres, { primary: 5432 })).type.toRaiseError()
    expect(app.register(postgres, { primary: { hots: 'db' } })).type.toRaiseError()
    expect(app.register(postgres, { timeout: true })).type.toRaiseError()
    expect(app.register(postgres, { secret: 42 })).type.toRaiseError()
    expect(app.register(postgres, { pgbouncer: 1.18 })).type.toRaiseError()
    expect(app.register(postgres, { cookie: { sameSite: 'sometimes' } })).type.toRaiseError()
    expect({ replicas: [{ host: 'r1', weight: '3' }] }).type.not.toBeAssignableTo<PostgresOptions>()
    expect({ timeoutMs: 2000 }).type.not.toBeAssignableTo<PostgresOptions>()
  })
})

describe('@scaleout/postgres decorators', () => {
  test('fastify.db: read, write, transaction, stats and checks', () => {
    expect(app.db).type.toBe<Db>()
    expect(app.db.read.query('SELECT 1')).type.toBe<Promise<QueryResult<pg.QueryResultRow>>>()
    expect(app.db.write.query<{ id: number }>('SELECT $1::int AS id', [1])).type.toBe<Promise<QueryResult<{ id: number }>>>()
    expect(app.db.transaction(async (tx) => {
      expect(tx).type.toBe<Queryable>()
      return (await tx.query<{ n: number }>('SELECT 1 AS n')).rows[0]?.n
    })).type.toBe<Promise<number | undefined>>()
    expect(app.db.stats()).type.toBe<DbStats>()
    expect(app.db.read.query(42)).type.toRaiseError()
    expect(app.db.read.query('SELECT 1', 'x')).type.toRaiseError()
  })

  test('request.db is request-scoped and has no stats', () => {
    app.get('/', async (request) => {
      expect(request.db).type.toBe<RequestDb>()
      expect(request.db.read.query<{ body: string }>('SELECT body FROM notes WHERE id = $1', [1])).type.toBe<Promise<QueryResult<{ body: string }>>>()
      expect(request.db.transaction(async () => 'done')).type.toBe<Promise<string>>()
      expect(request.db).type.not.toHaveProperty('stats')
      return 'ok'
    })
  })

  test('the checks fit @scaleout/health addCheck: a function of an optional signal', () => {
    expect(app.db.checks.primary()).type.toBe<Promise<{ status: 'pass', observedValue: number, observedUnit: 'ms' }>>()
    expect(app.db.checks.replicas(AbortSignal.timeout(100))).type.toBeAssignableTo<Promise<{ status: 'pass' | 'warn' }>>()
  })
})

describe('@scaleout/postgres errors', () => {
  test('errors holds every class keyed by its code, core ones included', () => {
    expect(errors.SCALEOUT_ERR_DB_UNAVAILABLE).type.toBe<typeof DbUnavailableError>()
    expect(errors.SCALEOUT_ERR_DB_TIMEOUT).type.toBe<typeof DbTimeoutError>()
    expect(errors.SCALEOUT_ERR_DB_NOT_CONFIGURED).type.toBe<typeof DbNotConfiguredError>()
    expect(errors.SCALEOUT_ERR_DB_OUTCOME_UNKNOWN).type.toBe<typeof DbOutcomeUnknownError>()
    expect(errors.SCALEOUT_ERR_DB_READ_ONLY).type.toBe<typeof DbReadOnlyError>()
    expect(errors.SCALEOUT_ERR_DB_SESSION_STATE).type.toBe<typeof DbSessionStateError>()
    expect(errors.SCALEOUT_ERR_DB_SESSION_SEQUENCE).type.toBe<typeof DbSessionSequenceError>()
    expect(errors.SCALEOUT_ERR_DB_OPEN_TRANSACTION).type.toBe<typeof DbOpenTransactionError>()
    expect(errors.SCALEOUT_ERR_DB_TRANSACTION_DONE).type.toBe<typeof DbTransactionDoneError>()
    expect(errors.SCALEOUT_ERR_DB_ROLLED_BACK).type.toBe<typeof DbRolledBackError>()
    expect(errors.SCALEOUT_ERR_DB_CLOSED).type.toBe<typeof DbClosedError>()
    expect(errors.SCALEOUT_ERR_DB_WRITE_IN_READ).type.toBe<typeof DbWriteInReadError>()
    expect(errors.SCALEOUT_ERR_DB_TRANSACTION_CONTROL).type.toBe<typeof DbTransactionControlError>()
    expect(errors.SCALEOUT_ERR_DB_UNSUPPORTED_DRIVER).type.toBe<typeof DbUnsupportedDriverError>()
    expect(errors.SCALEOUT_ERR_INVALID_OPTION).type.toBe<typeof InvalidOptionError>()
    expect(errors).type.toHaveProperty('SCALEOUT_ERR_REDIS_UNAVAILABLE')
    expect(errors).type.not.toHaveProperty('SCALEOUT_ERR_DB_NOPE')
  })

  test('errors carry their code and status as literal types', () => {
    expect(new DbUnavailableError('primary').code).type.toBe<'SCALEOUT_ERR_DB_UNAVAILABLE'>()
    expect(new DbUnavailableError('primary').statusCode).type.toBe<503>()
    expect(new DbTimeoutError('primary', 2000)).type.toBeAssignableTo<Error>()
  })
})
