import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { alignedEntry, headerValue, parseElement, splitFromRight, type ForwardedElement } from './headers.js'
import { hostName } from './host.js'
import { parseHop, parseSocketAddress, type Ip } from './ip.js'
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

function entries (config: Config, headers: IncomingHttpHeaders): string[] {
  const value = headerValue(headers[config.header])
  if (value === undefined) return []
  const parts = splitFromRight(value, config.header === 'forwarded')
  // A one-address header repeated is read as HAProxy's hdr_ip() reads it: the last occurrence,
  // and nothing left of it, since only the last one can have come from the proxy.
  return config.list ? parts : parts.slice(0, 1)
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

/** The protocol of the chosen hop: Forwarded `proto=` or the aligned X-Forwarded-Proto entry; else the socket's. */
export function protocolOf (config: Config, w: Walk, headers: IncomingHttpHeaders, encrypted: boolean): 'http' | 'https' {
  const fallback = encrypted ? 'https' : 'http'
  if (w.index === 0) return fallback
  const value = config.header === 'forwarded' ? w.element?.proto : alignedEntry(headers['x-forwarded-proto'], w.index)
  const lower = value?.toLowerCase()
  return lower === 'http' || lower === 'https' ? lower : fallback
}

/** The host of the chosen hop, if it is a valid authority and allowed; else the Host header. */
export function hostOf (config: Config, w: Walk, headers: IncomingHttpHeaders): string {
  const fallback = headers.host ?? (headers[':authority'] as string | undefined) ?? ''
  if (w.index === 0) return fallback
  const value = config.header === 'forwarded' ? w.element?.host : alignedEntry(headers['x-forwarded-host'], w.index)
  if (value === undefined) return fallback
  const name = hostName(value)
  if (name === null || (config.allowedHosts !== null && !config.allowedHosts(name))) return fallback
  return value
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
