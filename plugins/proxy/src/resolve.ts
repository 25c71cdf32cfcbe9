import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { alignedEntry, headerValue, parseElement, splitFromRight, type ForwardedElement } from './headers.js'
import { hostName, parseAuthority } from './host.js'
import { parseHop, parseSocketAddress, type Ip } from '@scaleout/core'
import type { Config } from './options.js'
import type { ForwardedHop, ForwardedInfo, ForwardedStop } from './types.js'

/** The socket peer's address; undefined once an HTTP/2 stream's socket is gone. */
export function remoteOf (raw: IncomingMessage): string | undefined {
  return raw.socket?.remoteAddress
}

/** Whether the request arrived over TLS (the socket's own protocol). */
export function encryptedOf (raw: IncomingMessage): boolean {
  return (raw.socket as { encrypted?: boolean } | null)?.encrypted === true
}

/** The outcome of one request's walk, computed on first read and kept on the request. */
export interface Walk {
  ip: string | undefined
  /** The socket peer first, then every hop walked, the client last. */
  ips: string[]
  /** Which hop is the client: 0 is the socket peer, k the k-th entry from the right. */
  index: number
  stop: ForwardedStop
  /** With `header: 'forwarded'`, the chosen element (its proto and host describe the client's request). */
  element: ForwardedElement | null
  protocol: 'http' | 'https' | undefined
  host: string | undefined
}

// RFC 7239 lets a proxy hide its port behind an obfuscated identifier ("[2001:db8::1]:_p1").
const OBFUSCATED_PORT = /:_[\w.-]+$/

function forwardedFor (element: ForwardedElement | null): Ip | null {
  const node = element?.for
  return node === undefined ? null : parseHop(node.replace(OBFUSCATED_PORT, ''))
}

// RFC 7239 §6: a node is an IP, "unknown" or an obfuscated identifier, optionally with a port.
const OTHER_NODE = /^(?:unknown|_[\w.-]+)(?::(?:\d{1,5}|_[\w.-]+))?$/i

/**
 * Whether a parsed element holds something no proxy writes: a repeated parameter or broken quoting
 * (parse failed), a node that is not a node, a protocol other than http/https, a host that is not
 * a plain host[:port]. These are the remnants of a client's text pasted unescaped into the header
 * by a proxy (nginx's `host="$host"` with `Host: a",for="1.2.3.4`).
 */
function malformed (element: ForwardedElement | null): boolean {
  if (element === null) return true
  const { for: node, proto, host } = element
  if (node !== undefined && parseHop(node.replace(OBFUSCATED_PORT, '')) === null && !OTHER_NODE.test(node)) return true
  if (proto !== undefined && !/^https?$/i.test(proto)) return true
  return host !== undefined && hostName(host) === null
}

function entries (config: Config, headers: IncomingHttpHeaders): string[] {
  const value = headerValue(headers[config.header])
  if (value === undefined) return []
  if (config.list) return splitFromRight(value, config.header === 'forwarded')
  // A one-address header repeated is read as HAProxy's hdr_ip() reads it: the last occurrence,
  // and nothing left of it, since only the last one can have come from the proxy. An empty last
  // occurrence is no address (the walk ends there), not a reason to read the one before it.
  const last = value.slice(value.lastIndexOf(',') + 1).trim()
  return last === '' && !value.includes(',') ? [] : [last]
}

function done (ip: string | undefined, ips: string[], index: number, stop: ForwardedStop, element: ForwardedElement | null): Walk {
  return { ip, ips, index, stop, element, protocol: undefined, host: undefined }
}

/** Walks from the socket peer leftwards through trusted proxies to the client. */
export function walk (config: Config, remote: string | undefined, headers: IncomingHttpHeaders): Walk {
  const peer = remote === undefined ? null : parseSocketAddress(remote)
  if (peer === null) return done(remote, remote === undefined ? [] : [remote], 0, 'untrusted-peer', null)
  const ips = [peer.text]
  if (!config.trust(peer)) return done(peer.text, ips, 0, 'untrusted-peer', null)
  const parts = entries(config, headers)
  const forwarded = config.header === 'forwarded'
  let client = peer
  let index = 0
  let element: ForwardedElement | null = null
  for (let k = 1; k <= parts.length; k++) {
    const part = parts[k - 1] as string
    const parsed = forwarded ? parseElement(part) : null
    // A header that shows injection is not believed at all, not even the hops right of the damage:
    // the client is the socket peer, as if no header had come.
    if (forwarded && malformed(parsed)) return done(peer.text, [peer.text], 0, 'refused', null)
    const hop = forwarded ? forwardedFor(parsed) : parseHop(part)
    if (hop === null) return done(client.text, ips, index, 'invalid', element)
    client = hop
    index = k
    element = parsed
    ips.push(hop.text)
    if (!config.trust(hop)) return done(hop.text, ips, k, 'untrusted', element)
    if (k >= config.maxHops) return done(hop.text, ips, k, 'max-hops', element)
  }
  return done(client.text, ips, index, 'end', element)
}

/**
 * The protocol of the chosen hop: Forwarded `proto=` or the aligned X-Forwarded-Proto entry; else
 * the socket's. In the one-address modes the index is 1: the rightmost entry, the one the CDN sets
 * (Cloudflare sets X-Forwarded-Proto to the visitor's scheme).
 */
export function protocolOf (config: Config, w: Walk, headers: IncomingHttpHeaders, encrypted: boolean): 'http' | 'https' {
  const fallback = encrypted ? 'https' : 'http'
  if (w.index === 0) return fallback
  const value = config.header === 'forwarded' ? w.element?.proto : alignedEntry(headers['x-forwarded-proto'], w.index)
  const lower = value?.toLowerCase()
  return lower === 'http' || lower === 'https' ? lower : fallback
}

/**
 * A host[:port] as request.host gives it: a plain authority, in `allowedHosts` when that is set, in
 * its one spelling (lower-cased, no trailing dot); else null.
 */
function acceptable (config: Config, value: string): string | null {
  const authority = parseAuthority(value)
  if (authority === null || (config.allowedHosts !== null && !config.allowedHosts(authority.name))) return null
  return authority.port === undefined ? authority.name : `${authority.name}:${authority.port}`
}

/** Node keeps the first of repeated Host lines; RFC 9112 §3.2 makes such a request invalid. */
function hostLines (rawHeaders: string[]): number {
  let count = 0
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string
    if (name.length === 4 && name.toLowerCase() === 'host') count++
  }
  return count
}

/**
 * The host of the chosen hop if it is acceptable; else the request's own Host (HTTP/2 :authority)
 * if that is; else '' (no host): never a value outside `allowedHosts`, never a malformed one.
 * Lower-cased and without a trailing dot: host names are case-insensitive, and one host should
 * have one spelling in cache keys and links.
 */
export function hostOf (config: Config, w: Walk, headers: IncomingHttpHeaders, rawHeaders: string[]): string {
  // Only the list modes have a forwarded host of the chosen hop. The one-address headers come from
  // CDNs that set no X-Forwarded-Host and pass the visitor's on untouched (Cloudflare does), so
  // there the host is the Host header the CDN routed the request by.
  if (w.index > 0 && config.list) {
    const value = config.header === 'forwarded' ? w.element?.host : alignedEntry(headers['x-forwarded-host'], w.index)
    const forwarded = value === undefined ? null : acceptable(config, value)
    if (forwarded !== null) return forwarded
  }
  const own = headers.host ?? (headers[':authority'] as string | undefined)
  const host = own === undefined || hostLines(rawHeaders) > 1 ? null : acceptable(config, own)
  return host ?? ''
}

/** The whole chain for `request.forwarded`: every entry, walked or not, with the chosen index. */
export function describe (config: Config, w: Walk, remote: string | undefined, headers: IncomingHttpHeaders): ForwardedInfo {
  const peer = remote === undefined ? null : parseSocketAddress(remote)
  const chain: ForwardedHop[] = [{ address: peer?.text ?? null, raw: remote ?? '', trusted: peer !== null && config.trust(peer) }]
  if (w.stop === 'untrusted-peer') return { source: 'socket', chain, chosen: 0, stop: w.stop }
  const forwarded = config.header === 'forwarded'
  for (const part of entries(config, headers)) {
    const hop = forwarded ? forwardedFor(parseElement(part)) : parseHop(part)
    chain.push({ address: hop?.text ?? null, raw: part, trusted: hop !== null && config.trust(hop) })
  }
  return { source: chain.length > 1 ? config.header : 'socket', chain, chosen: w.index, stop: w.stop }
}
