import type pg from 'pg'
import { DbSessionStateError } from './errors.js'
import { blank } from './sql-text.js'

// Behind PgBouncer in transaction mode consecutive statements may run on different server
// connections, so anything that leaves state on the session (a LISTEN, a session SET, a
// session-level advisory lock, a PREPAREd statement, a temporary table, a cursor WITH HOLD, a
// LOADed library, a random seed, a temporary replication slot, a replication origin, a backup)
// would silently leak to another client or be lost. Such statements are refused before they are
// sent, with the alternative that works. Only the text is read: a function that does any of this
// inside its body is not seen.

interface Rule {
  readonly what: string
  readonly instead: string
}

const LISTEN: Rule = { what: 'LISTEN', instead: 'use a direct connection to the primary (not through PgBouncer) for LISTEN/NOTIFY' }
const SET: Rule = { what: 'A session SET or RESET', instead: 'use SET LOCAL inside fastify.db.transaction(), or a role default (ALTER ROLE ... SET)' }
const LOCK: Rule = { what: 'A session-level advisory lock', instead: 'use pg_advisory_xact_lock() inside fastify.db.transaction()' }
const PREPARE: Rule = { what: 'PREPARE', instead: 'pass the values to query(text, values), which sends an unnamed statement' }
const TEMP: Rule = { what: 'A temporary table, view or sequence (or anything created in pg_temp) that outlives its transaction', instead: 'create it with ON COMMIT DROP inside fastify.db.transaction(), or use a regular table' }
const HOLD: Rule = { what: 'A cursor WITH HOLD', instead: 'declare the cursor without WITH HOLD inside fastify.db.transaction()' }
// A DO body is code (PL/pgSQL, dynamic EXECUTE) that no reading of the text can judge.
const DO: Rule = { what: 'A DO block', instead: 'send its statements as queries, inside fastify.db.transaction() if they belong together, or make it a function' }
const DBLINK: Rule = { what: 'A dblink connection kept open by dblink_connect()', instead: 'pass the connection string to dblink() or dblink_exec(), which connect for the call only' }
// Both last as long as the server session: a loaded library's hooks and parameters, and the seed
// that makes every later random() of whichever client the session serves next predictable.
const LOAD: Rule = { what: 'LOAD of a library', instead: 'load it for every session with shared_preload_libraries or session_preload_libraries (postgresql.conf or ALTER ROLE ... SET)' }
const SEED: Rule = { what: 'setseed()', instead: 'seed nothing on a shared session: generate reproducible values in the application, or use gen_random_uuid() for unpredictable ones' }
// A temporary slot is held active by the session that made it, and keeps WAL from being recycled, until
// that session ends: behind PgBouncer, as long as the server connection.
const TEMP_SLOT: Rule = { what: 'A temporary replication slot', instead: 'create a permanent slot (temporary => false) and drop it when done, or use a direct connection to the primary (not through PgBouncer)' }
const ORIGIN: Rule = { what: 'A replication origin set up for the session', instead: 'use a direct connection to the primary (not through PgBouncer)' }
const BACKUP: Rule = { what: 'A backup started on the session (pg_backup_start(), or pg_start_backup() not exclusive)', instead: 'take backups with pg_basebackup, or on a direct connection to the primary (not through PgBouncer)' }
const NAMED: Rule = { what: 'A named prepared statement', instead: 'drop `name` from the query config (PgBouncer tracks named statements only from 1.21 on)' }

const STATEMENT_START: Array<[RegExp, Rule]> = [
  [/^listen\b/i, LISTEN],
  [/^do\b/i, DO],
  [/^load\b/i, LOAD],
  [/^prepare\b(?!\s+transaction\b)/i, PREPARE],
  [/^reset\b/i, SET],
  // SET LOCAL and SET TRANSACTION / SET CONSTRAINTS last only for the transaction; the same word
  // before a dot is the first part of a parameter's name (SET local.x = 1 sets for the session).
  [/^set\s+(?!(?:local|transaction|constraints)\b(?!\s*\.))/i, SET],
  [/^declare\b[^;]*\bwith\s+hold\b/i, HOLD]
]
// EXPLAIN ANALYZE runs the statement it explains (CREATE TABLE ... AS among them).
const EXPLAIN = /^explain\b(?:\s*\([^)]*\)|\s+(?:analy[sz]e|verbose)\b)*\s*/i
const SESSION_LOCK = /\bpg_(?:try_)?advisory_lock(?:_shared)?\s*\(/i
// The connection is kept, named or not, for whichever client the session serves next.
const DBLINK_CONNECT = /\bdblink_connect(?:_u)?\s*\(/i
const SETSEED = /\bsetseed\s*\(/i
// What UPDATE pg_settings does is a session set_config(). Read anywhere in the text, not only at a
// statement's start: after a WITH clause (`WITH x AS (...) UPDATE pg_settings ...`) it sets all the
// same, and nothing else spells these words in this order.
const UPDATE_SETTINGS = /\bupdate\s+(?:only\s+)?(?:pg_catalog\s*\.\s*)?pg_settings\b/i
const SET_CONFIG = /\bset_config\s*\(/gi
const ORIGIN_SETUP = /\bpg_replication_origin_session_setup\s*\(/i
const BACKUP_START = /\bpg_backup_start\s*\(/i

/**
 * Calls whose session state hangs on one argument: its position, its name, and the literal that
 * makes the call harmless. An argument left out takes the function's default: `harmless` when that
 * default is harmless, else null (a copied slot is as temporary as its source).
 */
interface ArgumentRule { readonly call: RegExp, readonly position: number, readonly name: string, readonly harmless: string, readonly omitted: boolean, readonly rule: Rule }
const ARGUMENT_RULES: ArgumentRule[] = [
  { call: /\bpg_create_(?:physical|logical)_replication_slot\s*\(/gi, position: 2, name: 'temporary', harmless: 'false', omitted: true, rule: TEMP_SLOT },
  { call: /\bpg_copy_(?:physical|logical)_replication_slot\s*\(/gi, position: 2, name: 'temporary', harmless: 'false', omitted: false, rule: TEMP_SLOT },
  // Before PostgreSQL 15, an exclusive backup (the default) is the server's, not the session's.
  { call: /\bpg_start_backup\s*\(/gi, position: 2, name: 'exclusive', harmless: 'true', omitted: true, rule: BACKUP }
]
// A temporary table, view or sequence lives as long as the session, unless dropped at commit.
const TEMP_CREATE = /^create\s+(?:or\s+replace\s+)?(?:global\s+|local\s+)?(?:temp|temporary)\b/i
// So does anything created in the session's own schema, pg_temp, of whatever kind (a collation, an
// operator, a text search configuration, statistics, a conversion as much as a table or a
// function), and whatever a CREATE makes that refers to it (a view over pg_temp.t is temporary
// too). A list of kinds missed some: any pg_temp qualifier in a CREATE counts.
const TEMP_QUALIFIED = /^create\b.*\bpg_temp\w*\s*\./is
// Only a table can be dropped at commit (ON COMMIT DROP is not valid for anything else).
const TEMP_TABLE = /^create\s+(?:global\s+|local\s+)?(?:(?:temp|temporary|unlogged)\s+)*table\b/i
const TEMP_INTO = /\binto\s+(?:(?:temp|temporary)\b|(?:(?:unlogged\s+)?table\s+)?pg_temp\w*\s*\.)/i
const ON_COMMIT_DROP = /\bon\s+commit\s+drop\b/i

/** The arguments of the call whose `(` ends at `from` in `text` (blanked), as written. */
function argumentsAt (text: string, from: number): string[] {
  const args: string[] = ['']
  let depth = 0
  for (let i = from; i < text.length; i++) {
    const c = text[i] as string
    if (c === '(') depth++
    if (c === ')' && depth-- === 0) break
    if (c === ',' && depth === 0) args.push('')
    else args[args.length - 1] += c
  }
  return args
}

/**
 * Whether some set_config() call in `text` (blanked) may set for the session: only a third argument
 * that is the literal `true` makes it local to the transaction. Each call is judged on its own.
 */
function setsForSession (text: string): boolean {
  for (const call of text.matchAll(SET_CONFIG)) {
    const args = argumentsAt(text, (call.index as number) + call[0].length)
    if (args.length !== 3 || (args[2] as string).trim().toLowerCase() !== 'true') return true
  }
  return false
}

const NAMED_ARGUMENT = /^\s*([A-Za-z_][A-Za-z0-9_$]*)\s*(?:=>|:=)([\s\S]*)$/

/**
 * The rule of the first call in `text` (blanked) whose argument may leave session state: passed
 * by position or by name (`temporary => true`), it is harmless only as the bare literal; left out,
 * as its default says. An expression or a parameter may be anything, and is refused.
 */
function argumentState (text: string): Rule | null {
  for (const { call: pattern, position, name, harmless, omitted, rule } of ARGUMENT_RULES) {
    for (const call of text.matchAll(pattern)) {
      let value: string | undefined
      argumentsAt(text, (call.index as number) + call[0].length).forEach((arg, i) => {
        const named = NAMED_ARGUMENT.exec(arg)
        if (named === null ? i === position : (named[1] as string).toLowerCase() === name) value = named === null ? arg : named[2]
      })
      if (value === undefined ? !omitted : value.trim().toLowerCase() !== harmless) return rule
    }
  }
  return null
}

function check (sql: string): Rule | null {
  // Where standard_conforming_strings is off (a role default, or SET LOCAL earlier in the
  // transaction) a backslash escapes a quote in every string: the text is read both ways.
  return checkText(blank(sql)) ?? (sql.includes('\\') ? checkText(blank(sql, true)) : null)
}

function checkText (text: string): Rule | null {
  if (SESSION_LOCK.test(text)) return LOCK
  if (DBLINK_CONNECT.test(text)) return DBLINK
  if (SETSEED.test(text)) return SEED
  if (UPDATE_SETTINGS.test(text)) return SET
  if (ORIGIN_SETUP.test(text)) return ORIGIN
  if (BACKUP_START.test(text)) return BACKUP
  const argument = argumentState(text)
  if (argument !== null) return argument
  for (const statement of text.split(';')) {
    const start = statement.trimStart().replace(EXPLAIN, '')
    for (const [pattern, rule] of STATEMENT_START) if (pattern.test(start)) return rule
    if (((TEMP_CREATE.test(start) || TEMP_QUALIFIED.test(start)) && !(TEMP_TABLE.test(start) && ON_COMMIT_DROP.test(start))) || TEMP_INTO.test(start)) return TEMP
  }
  return setsForSession(text) ? SET : null
}

// Statements repeat: remember recent verdicts so a hot query is scanned once.
const CACHE_SIZE = 1000
const MAX_CACHED = 4096
const verdicts = new Map<string, Rule | null>()

/** Throws SCALEOUT_ERR_DB_SESSION_STATE for a statement transaction pooling would break. */
export function guard (query: string | pg.QueryConfig, namedStatements: boolean): void {
  const text = typeof query === 'string' ? query : query.text
  if (typeof query !== 'string' && query.name !== undefined && !namedStatements) throw new DbSessionStateError(NAMED.what, NAMED.instead)
  if (typeof text !== 'string') return
  let rule = verdicts.get(text)
  if (rule === undefined) {
    rule = check(text)
    // Long texts are scanned every time rather than held in memory.
    if (text.length <= MAX_CACHED) {
      if (verdicts.size >= CACHE_SIZE) verdicts.clear()
      verdicts.set(text, rule)
    }
  }
  if (rule !== null) throw new DbSessionStateError(rule.what, rule.instead)
}
