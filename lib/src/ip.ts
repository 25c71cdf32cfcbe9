// Strict IP parsing for addresses that arrive in headers. Anything a resolver might read two ways
// (leading zeros that inet_aton takes as octal, shortened `127.1`, hex or decimal integers, zone
// ids, empty octets) is rejected rather than guessed, so a hop can never mean two addresses.

/** A parsed address: IPv4 (and IPv4-mapped IPv6, normalised) as a uint32, IPv6 as eight 16-bit groups. */
export interface Ip {
  /** The IPv4 address as an unsigned 32-bit integer, or -1 for IPv6. */
  readonly v4: number
  /** The eight 16-bit groups of an IPv6 address; empty for IPv4. */
  readonly groups: readonly number[]
  /** The canonical text: dotted decimal, or RFC 5952 IPv6. */
  readonly text: string
}

const NO_GROUPS: readonly number[] = []

function isDigit (c: number): boolean {
  return c >= 48 && c <= 57
}

function hexValue (c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  const lower = c | 0x20
  if (lower >= 97 && lower <= 102) return lower - 87
  return -1
}

/** Dotted-decimal IPv4 in `s[start, end)` as a uint32, or -1. */
export function parseIpv4 (s: string, start: number, end: number): number {
  let value = 0
  let octet = 0
  let digits = 0
  let dots = 0
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i)
    if (isDigit(c)) {
      if (digits > 0 && octet === 0) return -1
      octet = octet * 10 + c - 48
      if (octet > 255) return -1
      digits++
    } else if (c === 46 && digits > 0 && dots < 3) {
      value = value * 256 + octet
      octet = 0
      digits = 0
      dots++
    } else {
      return -1
    }
  }
  if (dots !== 3 || digits === 0) return -1
  return value * 256 + octet
}

/** RFC 4291 text form in `s[start, end)` (embedded IPv4 allowed last), as eight groups, or null. */
export function parseIpv6 (s: string, start: number, end: number): number[] | null {
  const groups: number[] = []
  let gap = -1
  let i = start
  if (s.charCodeAt(i) === 58) {
    if (s.charCodeAt(i + 1) !== 58) return null
    gap = 0
    i += 2
  }
  while (i < end) {
    let value = 0
    let j = i
    while (j < end) {
      const h = hexValue(s.charCodeAt(j))
      if (h < 0) break
      value = value * 16 + h
      j++
    }
    if (j < end && s.charCodeAt(j) === 46) {
      const v4 = parseIpv4(s, i, end)
      if (v4 < 0 || groups.length > 6) return null
      groups.push(v4 >>> 16, v4 & 0xffff)
      break
    }
    if (j === i || j - i > 4 || groups.length === 8) return null
    groups.push(value)
    if (j === end) break
    if (s.charCodeAt(j) !== 58 || j + 1 === end) return null
    if (s.charCodeAt(j + 1) === 58) {
      if (gap >= 0) return null
      gap = groups.length
      i = j + 2
    } else {
      i = j + 1
    }
  }
  if (gap < 0) return groups.length === 8 ? groups : null
  if (groups.length > 7) return null
  groups.splice(gap, 0, ...new Array<number>(8 - groups.length).fill(0))
  return groups
}

function isMapped (g: readonly number[]): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff
}

export function formatIpv4 (v4: number): string {
  return `${v4 >>> 24}.${(v4 >>> 16) & 255}.${(v4 >>> 8) & 255}.${v4 & 255}`
}

/** RFC 5952: lower case, no leading zeros, the longest run of two or more zero groups as `::`. */
export function formatIpv6 (g: readonly number[]): string {
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLength) { bestStart = i; bestLength = j - i }
    i = j
  }
  if (bestStart < 0) return g.map((x) => x.toString(16)).join(':')
  const head = g.slice(0, bestStart).map((x) => x.toString(16)).join(':')
  const tail = g.slice(bestStart + bestLength).map((x) => x.toString(16)).join(':')
  return `${head}::${tail}`
}

function fromGroups (groups: readonly number[]): Ip {
  if (isMapped(groups)) {
    const v4 = ((groups[6] as number) * 65536) + (groups[7] as number)
    return { v4, groups: NO_GROUPS, text: formatIpv4(v4) }
  }
  return { v4: -1, groups, text: formatIpv6(groups) }
}

/** A bare address (no port, no brackets) in `s[start, end)`. */
export function parseAddress (s: string, start = 0, end = s.length): Ip | null {
  const v4 = parseIpv4(s, start, end)
  if (v4 >= 0) return { v4, groups: NO_GROUPS, text: end - start === s.length ? s : s.slice(start, end) }
  const groups = parseIpv6(s, start, end)
  return groups === null ? null : fromGroups(groups)
}

function validPort (s: string, start: number, end: number): boolean {
  if (start === end || end - start > 5) return false
  let port = 0
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i)
    if (!isDigit(c)) return false
    port = port * 10 + c - 48
  }
  return port >= 1 && port <= 65535
}

/**
 * One hop as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]`,
 * `[2001:db8::1]:443`, IPv4-mapped forms normalised to IPv4. A port must be 1 to 65535.
 */
export function parseHop (s: string): Ip | null {
  const end = s.length
  if (s.charCodeAt(0) === 91) {
    const close = s.indexOf(']')
    if (close < 0) return null
    if (close + 1 < end && (s.charCodeAt(close + 1) !== 58 || !validPort(s, close + 2, end))) return null
    const groups = parseIpv6(s, 1, close)
    return groups === null ? null : fromGroups(groups)
  }
  const colon = s.indexOf(':')
  if (colon > 0 && colon === s.lastIndexOf(':')) {
    if (!validPort(s, colon + 1, end)) return null
    const v4 = parseIpv4(s, 0, colon)
    return v4 < 0 ? null : { v4, groups: NO_GROUPS, text: s.slice(0, colon) }
  }
  return parseAddress(s)
}

/**
 * The socket's own address: Node may add a zone id (`fe80::1%eth0`), which names an interface, not a
 * host. Null when there is none: Node gives undefined on a Unix socket and once a client has reset
 * its connection, and Fastify passes that on (as request.ip, and to a trustProxy function).
 */
export function parseSocketAddress (s: string | undefined): Ip | null {
  if (typeof s !== 'string') return null
  const zone = s.indexOf('%')
  return parseAddress(s, 0, zone < 0 ? s.length : zone)
}
