// Statement text as the checks before sending read it: data and comments out of the way.

/**
 * The statement text with comments removed and every string literal and dollar-quoted body
 * blanked, so keywords inside data never match; `;` separates statements. A quoted identifier
 * stays as the word it names (anything but letters, digits, `_` and `$` made `_`): a function called
 * as `"pg_advisory_lock"(1)` is the function all the same.
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
      const from = ++i
      while (i < n) {
        if (escapes && sql[i] === '\\') { i += 2; continue }
        if (sql[i] === c) {
          if (sql[i + 1] === c) { i += 2; continue }
          break
        }
        i++
      }
      out += c === '"' ? ` ${sql.slice(from, i).replace(/[^A-Za-z0-9_$]/g, '_')} ` : ' x '
      i++
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
