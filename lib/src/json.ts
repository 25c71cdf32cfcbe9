// JSON.parse creates an own "__proto__" property from {"__proto__": ...}; that is harmless until a
// caller merges the object into another with Object.assign or a deep merge, which then swaps the
// target's prototype. Stored values come back from Redis, which an attacker may have reached, so
// decoding strips those keys. The reviver is slow, so it only runs when the text could hold one:
// a literal spelling of a dangerous name, or any \u escape, since an escape is the only other way
// to spell a letter or an underscore in JSON (`\u005f_proto__` decodes to `__proto__`). Text with
// neither pays a substring search and one regex scan (measured: within about 5% of the old check).
const NAMES = /"(?:__proto__|constructor|prototype)"/

function strip (this: unknown, key: string, value: unknown): unknown {
  if (key === '__proto__') return undefined
  if (key === 'constructor' && value !== null && typeof value === 'object' && Object.hasOwn(value, 'prototype')) return undefined
  return value
}

/** JSON.parse that never yields `__proto__` keys or `constructor.prototype` chains, however spelled. */
export function safeJsonParse (text: string): unknown {
  // Only an object or an array can hold a key. JSON text that starts with anything else (whitespace
  // aside) is a string, number, true, false or null, or not JSON at all: no search needed, and a
  // stored value such as a user id is most often one of those.
  const first = text.charCodeAt(0)
  if (first > 0x20 && first !== 0x7b && first !== 0x5b) return JSON.parse(text)
  return text.includes('\\u') || NAMES.test(text) ? JSON.parse(text, strip) : JSON.parse(text)
}
