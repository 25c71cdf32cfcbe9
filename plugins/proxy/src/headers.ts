// Reading forwarding headers from the right. The right end was written by the proxies we trust; the
// left end by whoever sent the request. Splitting from the right means nothing a client puts on
// the left (an unclosed quote, a stray comma) can change how the trusted entries are read.

/** Node joins repeated lines of these headers with ", " (RFC 9110 §5.3); arrays come from inject. */
export function headerValue (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value
}

function isOws (c: number): boolean {
  return c === 32 || c === 9
}

function pushTrimmed (out: string[], s: string, start: number, end: number): void {
  while (start < end && isOws(s.charCodeAt(start))) start++
  while (end > start && isOws(s.charCodeAt(end - 1))) end--
  // Empty list elements are ignored (RFC 9110 §5.6.1).
  if (end > start) out.push(s.slice(start, end))
}

function escaped (s: string, i: number): boolean {
  let backslashes = 0
  while (i - backslashes > 0 && s.charCodeAt(i - backslashes - 1) === 92) backslashes++
  return backslashes % 2 === 1
}

/**
 * The comma-separated elements of a header, rightmost first, trimmed, empty ones dropped. With
 * `quotes`, commas inside quoted strings do not split (RFC 7239 values).
 */
export function splitFromRight (s: string, quotes: boolean): string[] {
  const out: string[] = []
  let end = s.length
  let quoted = false
  for (let i = s.length - 1; i >= 0; i--) {
    const c = s.charCodeAt(i)
    if (c === 44 && !quoted) {
      pushTrimmed(out, s, i + 1, end)
      end = i
    } else if (c === 34 && quotes && !escaped(s, i)) {
      quoted = !quoted
    }
  }
  pushTrimmed(out, s, 0, end)
  return out
}

/**
 * The entry of X-Forwarded-Proto/-Host for hop `index` (1 = rightmost). Proxies that append line
 * these lists up with X-Forwarded-For; proxies that overwrite leave one value, set by the outermost
 * proxy that set it: when the list is shorter than the walk, its leftmost entry is that value.
 */
export function alignedEntry (value: string | string[] | undefined, index: number): string | undefined {
  const joined = headerValue(value)
  if (joined === undefined) return undefined
  const parts = splitFromRight(joined, false)
  return parts[Math.min(index, parts.length) - 1]
}

/** One RFC 7239 forwarded-element. */
export interface ForwardedElement {
  for: string | undefined
  proto: string | undefined
  host: string | undefined
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i

function unquote (value: string): string | null {
  if (value.charCodeAt(0) !== 34) return value.includes('"') || value.includes('\\') ? null : value
  let out = ''
  for (let i = 1; i < value.length; i++) {
    const c = value[i] as string
    if (c === '\\') {
      if (i + 1 >= value.length) return null
      out += value[++i] as string
    } else if (c === '"') {
      return i === value.length - 1 ? out : null
    } else {
      out += c
    }
  }
  return null
}

/** Parses `for=...;proto=...;host=...` (one element); null when malformed or a parameter repeats. */
export function parseElement (element: string): ForwardedElement | null {
  const result: ForwardedElement = { for: undefined, proto: undefined, host: undefined }
  const seen = new Set<string>()
  for (const pair of splitPairs(element)) {
    const eq = pair.indexOf('=')
    const name = pair.slice(0, eq).toLowerCase()
    if (eq < 1 || !TOKEN.test(name) || seen.has(name)) return null
    seen.add(name)
    const value = unquote(pair.slice(eq + 1))
    if (value === null) return null
    if (name === 'for' || name === 'proto' || name === 'host') result[name] = value
  }
  return result
}

function splitPairs (element: string): string[] {
  const pairs: string[] = []
  let start = 0
  let quoted = false
  for (let i = 0; i < element.length; i++) {
    const c = element.charCodeAt(i)
    if (c === 34 && !escaped(element, i)) quoted = !quoted
    else if (c === 59 && !quoted) {
      pushTrimmed(pairs, element, start, i)
      start = i + 1
    }
  }
  pushTrimmed(pairs, element, start, element.length)
  return pairs
}
