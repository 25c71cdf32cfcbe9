// Statement text as the checks before sending read it: data and comments out of the way.

// PostgreSQL counts every non-ASCII character as a letter of an identifier or a dollar-quote tag.
const WORD = 'A-Za-z0-9_\\u0080-\\uffff'
// A `$` after a letter, digit or `$` of a word continues the word (`a$$b$` is one identifier).
const AFTER_WORD = new RegExp(`[${WORD}$]$`)
const E_PREFIX = new RegExp(`(?:^|[^${WORD}$])[eE]$`)
const U_PREFIX = new RegExp(`(?:^|[^${WORD}$])[uU]&$`)
// A tag has no length limit: read it where it starts, however long.
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y

/**
 * The escape character of a U&"..." identifier ending before `at` (the one its UESCAPE clause
 * names, else `\`) and the length of that clause, which is part of the identifier.
 */
function unicodeEscape (sql: string, at: number): { escape: string, length: number } {
  const clause = /^\s*uescape\s*'([^'])'/i.exec(sql.slice(at, at + 64))
  return clause === null ? { escape: '\\', length: 0 } : { escape: clause[1] as string, length: clause[0].length }
}

/** A U&"..." identifier's body with its escapes (`\XXXX`, `\+XXXXXX`, a doubled escape) decoded. */
function decodeUnicodeIdentifier (body: string, escape: string): string {
  let name = ''
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string
    if (c !== escape) {
      name += c
      continue
    }
    const rest = body.slice(i + 1)
    const code = /^(?:\+([0-9A-Fa-f]{6})|([0-9A-Fa-f]{4}))/.exec(rest)
    if (rest.startsWith(escape)) {
      name += escape
      i++
    } else if (code !== null) {
      const point = Number.parseInt(code[1] ?? code[2] as string, 16)
      // Not a valid code point: PostgreSQL refuses the statement; any character will do here.
      name += point <= 0x10ffff ? String.fromCodePoint(point) : '_'
      i += code[0].length
    }
  }
  return name
}

/**
 * The statement text with comments removed and every string literal and dollar-quoted body
 * blanked, so keywords inside data never match; `;` separates statements. A quoted identifier
 * stays as the word it names (anything but letters, digits, `_` and `$` made `_`): a function called
 * as `"pg_advisory_lock"(1)` is the function all the same. With `backslashQuotes`, a backslash
 * escapes in every string, as it does where standard_conforming_strings is off.
 */
export function blank (sql: string, backslashQuotes = false): string {
  let out = ''
  let i = 0
  const n = sql.length
  while (i < n) {
    const c = sql[i] as string
    const next = sql[i + 1]
    if (c === '-' && next === '-') {
      // PostgreSQL ends a line comment at a carriage return as well as a newline.
      const end = sql.slice(i).search(/[\n\r]/)
      i = end === -1 ? n : i + end
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
      const escapes = c === '\'' && (backslashQuotes || E_PREFIX.test(out))
      const from = ++i
      while (i < n) {
        if (escapes && sql[i] === '\\') { i += 2; continue }
        if (sql[i] === c) {
          if (sql[i + 1] === c) { i += 2; continue }
          break
        }
        i++
      }
      const body = sql.slice(from, i)
      i++
      if (c === '"') {
        // U&"..." spells its characters as escapes: the name is what they decode to.
        const unicode = U_PREFIX.test(out)
        let name = body
        if (unicode) {
          const { escape, length } = unicodeEscape(sql, i)
          name = decodeUnicodeIdentifier(body, escape)
          i += length
        }
        out += ` ${name.replace(/[^A-Za-z0-9_$]/g, '_')} `
      } else out += ' x '
    } else if (c === '$' && !AFTER_WORD.test(out)) {
      DOLLAR_TAG.lastIndex = i
      const tag = DOLLAR_TAG.exec(sql)
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

// A function or procedure with a SQL-standard body: `BEGIN ATOMIC ...; ...; END` or `RETURN expr`,
// after its signature and options. Nothing in the body runs when the routine is created.
const CREATE_ROUTINE = /^\s*create\s+(?:or\s+replace\s+)?(?:function|procedure)\b/i
const NOT_WORD = '(?<![A-Za-z0-9_$\\u0080-\\uffff])'
const END_WORD = '(?![A-Za-z0-9_$\\u0080-\\uffff])'
const BODY_START = new RegExp(`${NOT_WORD}(?:(begin\\s+atomic)|return)${END_WORD}`, 'iy')
const BODY_END = /^\s*end\b/i

/**
 * Where the body of the CREATE FUNCTION or CREATE PROCEDURE statement `part` (blanked) starts, and
 * whether it is BEGIN ATOMIC; null when the statement is not one or has no such body. Only a
 * BEGIN ATOMIC or RETURN outside parentheses counts: elsewhere (`RETURN (SELECT x FROM begin
 * atomic)`) the words are a table and its alias, and the statement ends at its `;`.
 */
function routineBody (part: string): { at: number, atomic: boolean } | null {
  const head = CREATE_ROUTINE.exec(part)
  if (head === null) return null
  let depth = 0
  for (let i = head[0].length; i < part.length; i++) {
    const c = part[i]
    if (c === '(') depth++
    else if (c === ')') depth--
    else if (depth === 0) {
      BODY_START.lastIndex = i
      const start = BODY_START.exec(part)
      if (start !== null) return { at: i, atomic: start[1] !== undefined }
    }
  }
  return null
}

/**
 * The statements of a blanked text, as PostgreSQL splits them: at `;`, except that a BEGIN ATOMIC
 * body's `;`s are its own and its END closes it. Each SQL-standard routine body (from its BEGIN
 * ATOMIC or RETURN to its statement's end) is replaced by ` x `: creating the routine runs none of
 * it. A BEGIN ATOMIC is read as a body only where one can stand, in a CREATE FUNCTION or CREATE
 * PROCEDURE outside parentheses: `SELECT 1 FROM begin atomic; BEGIN` is two statements.
 */
export function statements (text: string): string[] {
  const parts = text.split(';')
  const out: string[] = []
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string
    const body = routineBody(part)
    if (body === null) {
      out.push(part)
      continue
    }
    out.push(`${part.slice(0, body.at)} x `)
    // An empty body ends in its own part; else the body's statements run up to the part that is its END.
    if (body.atomic && !BODY_END.test(part.slice(body.at).replace(/^begin\s+atomic/i, ''))) {
      while (i + 1 < parts.length && !BODY_END.test(parts[i + 1] as string)) i++
      i++
    }
  }
  return out
}
