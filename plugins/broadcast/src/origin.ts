import type { FastifyRequest } from 'fastify'
import { invalid } from '@scaleout/core'

// A page on another origin can open a WebSocket to us with the user's cookies (browsers do not
// apply CORS to WebSocket handshakes): cross-site WebSocket hijacking. Browsers always send Origin
// on the handshake, so the route refuses an Origin it was not told to accept. A request without
// Origin is not a browser page (curl, a server, a native app) and cannot carry a victim's cookies
// by accident, so it passes.

/** Decides whether a cross-origin page may connect; same-origin pages always may. */
export type OriginCheck = (origin: string, request: FastifyRequest) => boolean

const PLUGIN = '@scaleout/broadcast'
const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443' }

const sameOriginOnly: OriginCheck = () => false

/** `scheme://host[:port]` as browsers send it, or undefined for anything else ("null", garbage). */
function parseOrigin (origin: string): URL | undefined {
  try {
    const url = new URL(origin)
    return DEFAULT_PORTS[url.protocol] === undefined || url.host === '' ? undefined : url
  } catch {
    return undefined
  }
}

/** `allowedOrigins`: a list of origins (`https://app.example.com`) or a function. */
export function checkOrigins (option: string, value: unknown): OriginCheck {
  if (value === undefined) return sameOriginOnly
  if (typeof value === 'function') return value as OriginCheck
  const expected = 'an array of origins such as "https://app.example.com", or a function (origin, request) => boolean'
  if (!Array.isArray(value)) throw invalid(PLUGIN, option, expected)
  const allowed = new Set(value.map((entry) => {
    const url = typeof entry === 'string' ? parseOrigin(entry) : undefined
    if (url === undefined || url.origin !== entry.replace(/\/$/, '').toLowerCase()) throw invalid(PLUGIN, option, expected)
    return url.origin
  }))
  return (origin) => allowed.has(origin)
}

/**
 * The Origin's host and port equal the ones the request was sent to (`request.host`), and a page
 * served over plain HTTP is not the origin of a request that came over TLS: anyone on the network
 * path can write such a page. The converse cannot be told apart from a proxy that terminates TLS
 * without saying so to the app (request.protocol 'http'), so an https page passes.
 */
function sameOrigin (url: URL, request: FastifyRequest): boolean {
  if (url.protocol === 'http:' && request.protocol === 'https') return false
  let host: URL
  try {
    host = new URL(`${url.protocol}//${request.host}`)
  } catch {
    return false
  }
  const port = (u: URL): string => u.port === '' ? DEFAULT_PORTS[u.protocol] as string : u.port
  return host.hostname === url.hostname && port(host) === port(url)
}

/** Whether the handshake may go on; a request without Origin is not a browser page and may. */
export function originAllowed (check: OriginCheck, request: FastifyRequest): boolean {
  const origin = request.headers.origin
  if (origin === undefined) return true
  const url = parseOrigin(origin)
  if (url === undefined) return false
  return sameOrigin(url, request) || check(url.origin, request) === true
}
