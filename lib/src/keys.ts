import { invalid } from './options.js'

// Braces would start a Cluster hash tag inside the prefix and pin every key to one slot;
// whitespace and control characters make keys miserable to inspect with redis-cli.
// eslint-disable-next-line no-control-regex
const PREFIX = /^[^{}\s\x00-\x1f\x7f]{1,128}$/

/** Validates a key prefix option: 1 to 128 printable characters, no braces, no whitespace. */
export function checkPrefix (plugin: string, option: string, value: unknown): string {
  if (typeof value !== 'string' || !PREFIX.test(value)) {
    throw invalid(plugin, option, 'a key prefix of 1 to 128 printable characters without braces or whitespace, such as "myapp:sess:"')
  }
  return value
}

const ESCAPES: Record<string, string> = { '%': '%25', '{': '%7B', '}': '%7D' }
const ESCAPED = /[%{}]/

/**
 * A Redis Cluster hash tag: every key that contains `{value}` (and no earlier `{`) maps to the same
 * slot, so multi-key commands and scripts over them never fail with CROSSSLOT. Redis ends the tag at
 * the first `}`, so braces in the value are percent-encoded, and `%` with them: the encoding is
 * injective (two different values never share a tag, `bob_x`, `bob{x` and `bob%7Bx` included) and
 * leaves values without those three characters as they are. The empty value is `{%}`: Redis takes
 * `{}` for no tag at all, and a bare `%` is no other value's.
 */
export function hashTag (value: string): string {
  // Tested first: a replace with a callback costs about 0.4 µs even when nothing matches, and the
  // session builds a key with a tag on every request (ids never hold these characters).
  if (ESCAPED.test(value)) return '{' + value.replace(/[%{}]/g, (c) => ESCAPES[c] as string) + '}'
  return value === '' ? '{%}' : '{' + value + '}'
}

/** Joins a prefix and key parts: `key('app:', 'user', '42')` is `app:user:42`. */
export function key (prefix: string, ...parts: string[]): string {
  return prefix + parts.join(':')
}

/** A key whose slot is decided by `tag`: `taggedKey('app:', 'u42', 'sessions')` is `app:{u42}:sessions`. */
export function taggedKey (prefix: string, tag: string, ...parts: string[]): string {
  const tagged = prefix + hashTag(tag)
  // One part (a session's key, on every request) needs no join.
  return parts.length === 0 ? tagged : parts.length === 1 ? tagged + ':' + (parts[0] as string) : tagged + ':' + parts.join(':')
}

// A lone surrogate has no UTF-8 form: Redis (and a digest) receive U+FFFD in its place, so two
// different strings would name one key, channel or token while the process keeps them apart.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** True when `text` holds a surrogate that is not half of a pair: it cannot name anything in Redis. */
export function hasLoneSurrogate (text: string): boolean {
  return LONE_SURROGATE.test(text)
}
