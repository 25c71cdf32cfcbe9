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

/**
 * A Redis Cluster hash tag: every key that contains `{value}` (and no earlier `{`) maps to the same
 * slot, so multi-key commands and scripts over them never fail with CROSSSLOT. Braces in the value
 * are replaced, because Redis ends the tag at the first `}`.
 */
export function hashTag (value: string): string {
  return '{' + value.replace(/[{}]/g, '_') + '}'
}

/** Joins a prefix and key parts: `key('app:', 'user', '42')` is `app:user:42`. */
export function key (prefix: string, ...parts: string[]): string {
  return prefix + parts.join(':')
}

/** A key whose slot is decided by `tag`: `taggedKey('app:', 'u42', 'sessions')` is `app:{u42}:sessions`. */
export function taggedKey (prefix: string, tag: string, ...parts: string[]): string {
  return parts.length === 0 ? prefix + hashTag(tag) : prefix + hashTag(tag) + ':' + parts.join(':')
}
