/**
 * Standard header names that clients, proxies or caches act on: an instance id written into one
 * (on every response) would frame, route, cache or authorise every response wrongly, or replace
 * what another plugin set there. Lower case; compared after lower-casing.
 */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  // RFC 9110 (HTTP semantics): every field it defines, request fields included, since a name with
  // a standard meaning in one direction is read by some proxy or cache in the other.
  'accept', 'accept-charset', 'accept-encoding', 'accept-language', 'accept-ranges', 'allow',
  'authentication-info', 'authorization', 'connection', 'content-encoding', 'content-language',
  'content-length', 'content-location', 'content-range', 'content-type', 'date', 'etag', 'expect',
  'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'proxy-authenticate', 'proxy-authentication-info',
  'proxy-authorization', 'range', 'referer', 'retry-after', 'server', 'te', 'trailer', 'upgrade',
  'user-agent', 'vary', 'via', 'www-authenticate',
  // RFC 9111 (caching).
  'age', 'cache-control', 'expires', 'pragma', 'warning',
  // RFC 9112 (HTTP/1.1 framing), its reserved `close`, and the connection headers HTTP/2 forbids.
  'transfer-encoding', 'close', 'keep-alive', 'proxy-connection', 'http2-settings',
  // Fetch: forbidden response header names, forbidden request header names, CORS and the other
  // response headers it gives a meaning to.
  'set-cookie', 'set-cookie2', 'cookie', 'cookie2', 'dnt', 'origin',
  'access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-methods',
  'access-control-allow-headers', 'access-control-max-age', 'access-control-expose-headers',
  'access-control-request-method', 'access-control-request-headers', 'access-control-allow-private-network',
  'cross-origin-resource-policy', 'x-content-type-options',
  // Browser security and navigation headers a security plugin (helmet) sets on every response.
  'strict-transport-security', 'content-security-policy', 'content-security-policy-report-only',
  'x-frame-options', 'referrer-policy', 'permissions-policy', 'cross-origin-opener-policy',
  'cross-origin-embedder-policy', 'origin-agent-cluster', 'clear-site-data', 'content-disposition',
  'link', 'refresh', 'alt-svc', 'forwarded'
])

/** Fetch forbids request header names with these prefixes; no instance header takes one. */
const RESERVED_PREFIXES = ['proxy-', 'sec-']

/** Whether `name` (lower case) is a standard header that must not carry the instance id. */
export function isReservedHeader (name: string): boolean {
  return RESERVED_HEADERS.has(name) || RESERVED_PREFIXES.some((prefix) => name.startsWith(prefix))
}
