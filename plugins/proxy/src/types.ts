/** The one header the client address is read from. */
export type ProxyHeader = 'x-forwarded-for' | 'forwarded' | 'x-real-ip' | 'cf-connecting-ip' | 'true-client-ip'

export interface ProxyOptions {
  /**
   * Who may forward requests: IPs, CIDRs (v4 and v6) and the presets `loopback`, `private`, `linklocal`,
   * `uniquelocal`, as an array or a comma-separated string. `"all"` trusts every peer (and logs a warning).
   */
  trust: string | readonly string[]
  /** The most trusted proxies walked before the next address is taken as the client. Default: no cap. */
  maxHops?: number
  /** The one source of the client address. Default `x-forwarded-for`. */
  header?: ProxyHeader
  /**
   * Host names request.host may take (`example.com`, `*.example.com`), forwarded or from the Host header.
   * A request whose host is not listed gets request.host `''`. Default: any valid host[:port].
   */
  allowedHosts?: readonly string[]
  /** Refused at registration: the plugin adds no routes, and Fastify ignores `prefix` for it. */
  prefix?: never
  /** Refused at registration: the plugin adds no routes to log. */
  logLevel?: never
  /** Refused at registration: the plugin adds no routes to log. */
  logSerializers?: never
}

/** The options `trustProxy()` accepts: Fastify's own walk reads X-Forwarded-For and cannot check hosts. */
export interface TrustProxyOptions {
  trust: string | readonly string[]
  maxHops?: number
  header?: 'x-forwarded-for'
}

/** One hop: the socket peer, or one entry of the header read from the right. */
export interface ForwardedHop {
  /** The address, normalised (ports stripped, IPv4-mapped IPv6 as IPv4); null when the entry is not an IP. */
  address: string | null
  /** The entry as received (for the socket peer, its remote address). */
  raw: string
  /** Whether the address is in the trust list. */
  trusted: boolean
}

/** Why the walk stopped where it did. */
export type ForwardedStop =
  /** The socket peer is not trusted: every forwarding header was ignored. */
  | 'untrusted-peer'
  /** The chosen hop is the first address not in the trust list. */
  | 'untrusted'
  /** `maxHops` trusted proxies were walked. */
  | 'max-hops'
  /** The next entry was not an IP (garbage, `unknown`, an obfuscated identifier). */
  | 'invalid'
  /**
   * `header: 'forwarded'` only: a walked element was malformed (broken quoting, a repeated
   * parameter, a node that is not one, a protocol other than http/https, a host that is not a
   * plain host[:port]), the marks of a client's text pasted into the header. The whole header
   * was ignored: the client is the socket peer.
   */
  | 'refused'
  /** Every entry was trusted (or there were none): the leftmost one is taken. */
  | 'end'

export interface ForwardedInfo {
  /** Where the addresses came from: the header's name, or `socket` when no header was consulted. */
  source: ProxyHeader | 'socket'
  /** The socket peer, then the header's entries from right (nearest) to left. */
  chain: ForwardedHop[]
  /** The index in `chain` of the hop taken as the client. */
  chosen: number
  stop: ForwardedStop
}

declare module 'fastify' {
  interface FastifyRequest {
    /** How the client was found (@scaleout/proxy): the chain of hops and which one was chosen. */
    readonly forwarded: ForwardedInfo
  }
}
