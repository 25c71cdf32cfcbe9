import { formatIpv6, invalid, parseIpv4, parseIpv6 } from '@scaleout/core'
import { PLUGIN } from './errors.js'

// A forwarded host ends up in redirects, absolute links and cookie domains, so it must be a plain
// authority (host[:port]) and nothing that could smuggle a path, credentials or a second host.
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i
// 1 to 65535 without leading zeros: one port, one spelling ("shop.example:0443" would be a second cache key).
const PORT = /^[1-9]\d{0,4}$/
// A name whose last label is a number is an IPv4 address to URL parsers (WHATWG "ends in a number"),
// which throw on "1.2.3.999" and read "010.0.0.1" as 8.0.0.1: only plain dotted decimal is one address.
const NUMERIC_LABEL = /(?:^|\.)(?:\d+|0x[0-9a-f]*)$/i

/** A valid `host[:port]`, split and normalised. */
export interface Authority {
  /** Lower-cased, without a trailing dot; IPv6 literals keep their brackets. */
  name: string
  port: string | undefined
}

/** Splits and checks a `host[:port]`; null when it is not a plain, valid one. */
export function parseAuthority (value: string): Authority | null {
  let name = value
  let port: string | undefined
  if (value.charCodeAt(0) === 91) {
    const close = value.indexOf(']')
    const groups = close < 0 ? null : parseIpv6(value, 1, close)
    if (groups === null) return null
    // One spelling per address, the one browsers send (WHATWG's serialisation: RFC 5952's
    // compression, lower case, mapped IPv4 in hex), so [2001:DB8:0::1] matches [2001:db8::1].
    name = `[${formatIpv6(groups)}]`
    if (close + 1 < value.length) {
      if (value.charCodeAt(close + 1) !== 58) return null
      port = value.slice(close + 2)
    }
  } else {
    const colon = value.indexOf(':')
    if (colon >= 0) {
      name = value.slice(0, colon)
      port = value.slice(colon + 1)
    }
    // A fully qualified name ("shop.example.com.") is the same host as without its dot (browsers
    // send it as typed): one dot is dropped, so it matches allowedHosts and keeps one spelling in
    // links and cache keys. The rest must be a valid name on its own ("a..", "." are not).
    if (name.endsWith('.')) name = name.slice(0, -1)
    if (name.length === 0 || name.length > 253 || !name.split('.').every((label) => LABEL.test(label))) return null
    if (NUMERIC_LABEL.test(name) && parseIpv4(name, 0, name.length) < 0) return null
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535)) return null
  return { name: name.toLowerCase(), port }
}

/** The lower-cased host name of a valid `host[:port]` (without a trailing dot), or null. */
export function hostName (value: string): string | null {
  return parseAuthority(value)?.name ?? null
}

/** Whether a host name is allowed. */
export type HostCheck = (name: string) => boolean

const EXPECTED = 'a non-empty array of host names ("example.com", or "*.example.com" for any subdomain)'

export function compileAllowedHosts (value: unknown): HostCheck {
  if (!Array.isArray(value) || value.length === 0) throw invalid(PLUGIN, 'allowedHosts', EXPECTED)
  const exact = new Set<string>()
  const suffixes: string[] = []
  for (const item of value) {
    const wildcard = typeof item === 'string' && item.startsWith('*.')
    const bare = typeof item === 'string' ? (wildcard ? item.slice(2) : item) : ''
    const authority = parseAuthority(bare)
    // A host name, not an authority: "example.com:443" would never match the name it is compared with.
    // A trailing dot is allowed ("example.com." names the host that "example.com" does), and any
    // spelling of an IPv6 literal.
    if (authority === null || authority.port !== undefined) throw invalid(PLUGIN, 'allowedHosts', `${EXPECTED}; got ${JSON.stringify(item)}`)
    if (wildcard) suffixes.push('.' + authority.name)
    else exact.add(authority.name)
  }
  return (name) => exact.has(name) || suffixes.some((suffix) => name.endsWith(suffix))
}

// request.hostname and request.port are derived here from request.host (valid and normalised, or
// ''), not left to Fastify: Fastify 5.0 to 5.8 took the port from the raw Host header when
// request.host had none (a refused `Host: evil.example:1234` gave port 1234, `[::1]` gave 1), 5.9
// always took it from there, and 5.0's hostname of `[::1]:8080` was `[`.

/** The name part of a request.host: `[::1]` keeps its brackets; '' for ''. */
export function hostnameOf (host: string): string {
  const end = host.charCodeAt(0) === 91 ? host.indexOf(']') + 1 : host.indexOf(':')
  return end > 0 ? host.slice(0, end) : host
}

/** The port written in a request.host, or null without one. */
export function portOf (host: string): number | null {
  const name = hostnameOf(host)
  return name.length < host.length ? Number(host.slice(name.length + 1)) : null
}
