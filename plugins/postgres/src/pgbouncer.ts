import type pg from 'pg'
import { DbSessionStateError } from './errors.js'

// Behind PgBouncer in transaction mode consecutive statements may run on different server
// connections, so anything that leaves state on the session (a LISTEN, a session SET, a
// session-level advisory lock, a PREPAREd statement) would silently leak to another client or be
// lost. Such statements are refused before they are sent, with the alternative that works.

interface Rule {
  readonly what: string
  readonly instead: string
}

const LISTEN: Rule = { what: 'LISTEN', instead: 'use a direct connection to the primary (not through PgBouncer) for LISTEN/NOTIFY' }
const SET: Rule = { what: 'A session SET or RESET', instead: 'use SET LOCAL inside fastify.db.transaction(), or a role default (ALTER ROLE ... SET)' }
const LOCK: Rule = { what: 'A session-level advisory lock', instead: 'use pg_advisory_xact_lock() inside fastify.db.transaction()' }
const PREPARE: Rule = { what: 'PREPARE', instead: 'pass the values to query(text, values), which sends an unnamed statement' }
const NAMED: Rule = { what: 'A named prepared statement', instead: 'drop `name` from the query config (PgBouncer tracks named statements only from 1.21 on)' }

/**
 * The statement text with comments removed and every string literal, quoted identifier and
 * dollar-quoted body blanked, so keywords inside data never match. `;` separates statements.
 */
export function blank (sql: string): string {
  let out = ''
  let i = 0
  const n = sql.length
  while (i < n) {
    const c = sql[i] as string
    const next = sql[i + 1]
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i)
      i = end === -1 ? n : end
      out += ' '
    } else if (c === '/' && next === '*') {
      let depth = 1
      i += 2
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') { depth++; i += 2 } else if (sql[i] === '*' && sql[i + 1] === '/') { depth--; i += 2 } else i++
      }
      out += ' '
    } else if (c === '\'' || c === '"') {
      // E'...' strings take backslash escapes; a doubled quote escapes in every kind.
      const escapes = c === '\'' && /[eE]$/.test(out) && !/[A-Za-z0-9_$][eE]$/.test(out)
      i++
      while (i < n) {
        if (escapes && sql[i] === '\\') { i += 2; continue }
        if (sql[i] === c) {
          if (sql[i + 1] === c) { i += 2; continue }
          break
        }
        i++
      }
      i++
      out += ' x '
    } else if (c === '$' && !/[A-Za-z0-9_]$/.test(out)) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 66))
      if (tag === null) {
        out += c
        i++
        continue
      }
      const end = sql.indexOf(tag[0], i + tag[0].length)
      i = end === -1 ? n : end + tag[0].length
      out += ' x '
    } else {
      out += c
      i++
    }
  }
  return out
}

const STATEMENT_START: Array<[RegExp, Rule]> = [
  [/^listen\b/i, LISTEN],
  [/^prepare\b/i, PREPARE],
  [/^reset\b/i, SET],
  // SET LOCAL and SET TRANSACTION / SET CONSTRAINTS last only for the transaction.
  [/^set\s+(?!local\b|transaction\b|constraints\b)/i, SET]
]
const SESSION_LOCK = /\bpg_(?:try_)?advisory_lock(?:_shared)?\s*\(/i
const SET_CONFIG = /\bset_config\s*\(/i

function check (sql: string): Rule | null {
  const text = blank(sql)
  if (SESSION_LOCK.test(text)) return LOCK
  for (const statement of text.split(';')) {
    const start = statement.trimStart()
    for (const [pattern, rule] of STATEMENT_START) if (pattern.test(start)) return rule
  }
  // set_config(name, value, false) is a session SET; with `true` it is local to the transaction.
  if (SET_CONFIG.test(text) && !/\bset_config\s*\([^()]*,\s*true\s*\)/i.test(text)) return SET
  return null
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
