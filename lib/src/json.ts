// JSON.parse creates an own "__proto__" property from {"__proto__": ...}; that is harmless until a
// caller merges the object into another with Object.assign or a deep merge, which then swaps the
// target's prototype. Stored values come back from Redis, which an attacker may have reached, so
// decoding strips those keys. The reviver is slow, so it only runs when the text contains them.
const SUSPICIOUS = /"(?:__proto__|constructor|prototype)"/

function strip (this: unknown, key: string, value: unknown): unknown {
  if (key === '__proto__') return undefined
  if (key === 'constructor' && value !== null && typeof value === 'object' && Object.hasOwn(value, 'prototype')) return undefined
  return value
}

/** JSON.parse that never yields `__proto__` keys or `constructor.prototype` chains. */
export function safeJsonParse (text: string): unknown {
  return SUSPICIOUS.test(text) ? JSON.parse(text, strip) : JSON.parse(text)
}
