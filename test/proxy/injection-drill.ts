import Fastify, { type FastifyInstance } from 'fastify'
import proxy from '@scaleout/proxy'
import health from '@scaleout/health'
import { rawRequest, type RawResponse } from './raw-http.js'

// The attempts of issue 14 (items 2, 5, 10), sent through a real proxy to an app that trusts only
// that proxy. Shared by the README-config test and the e2e drill on the shipped deploy/ configs.

export interface Seen { ip: string, protocol: string, host: string, stop: string }

/** The client's own connection: a loopback address other than the proxy's 127.0.0.1. */
export const CLIENT = '127.0.0.9'
export const MODES = ['x-forwarded-for', 'forwarded', 'x-real-ip', 'cf-connecting-ip', 'true-client-ip'] as const

/**
 * The address the app must see in `mode` behind a published edge config: the client's, from the
 * headers the proxy sets; the proxy's own (127.0.0.1) for the CDN headers, which a CDN in front
 * would set and the edge drops: never an address the client chose.
 */
export function addressIn (mode: typeof MODES[number]): string {
  return mode === 'cf-connecting-ip' || mode === 'true-client-ip' ? '127.0.0.1' : CLIENT
}

/** An app that reports what @scaleout/proxy made of the request under /<mode>, with @scaleout/health's defaults. */
export async function reportingApp (options: { allowedHosts?: string[] } = {}): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(health, { signals: false, eventLoopDelay: false, exit: () => {} })
  for (const header of MODES) {
    await app.register(async (scope) => {
      await scope.register(proxy, { trust: ['127.0.0.1'], header, ...options })
      scope.get(`/${header}`, async (request) => ({ ip: request.ip, protocol: request.protocol, host: request.host, stop: request.forwarded.stop }))
    })
  }
  return app
}

export interface Attempt {
  what: string
  host: string
  headers: Array<[string, string]>
  /** The host the app must see: the client's own Host (lower-cased) when it is plain, else none. */
  expectedHost: string
}

const FORGED: Array<[string, string]> = [
  ['X-Forwarded-For', '1.2.3.4, 127.0.0.1'],
  ['X-Forwarded-Proto', 'https'],
  ['X-Forwarded-Host', 'evil.example'],
  ['X-Forwarded-Port', '443'],
  ['X-Real-IP', '5.6.7.8'],
  ['Forwarded', 'for=9.9.9.9;proto=https;host=evil.example'],
  ['Forwarded', 'for=127.0.0.1'],
  ['CF-Connecting-IP', '6.6.6.6'],
  ['True-Client-IP', '7.7.7.7']
]

export const ATTEMPTS: Attempt[] = [
  { what: 'a plain request', host: 'shop.example.com', headers: [], expectedHost: 'shop.example.com' },
  { what: 'a host with a port', host: 'Shop.Example.com:8443', headers: [], expectedHost: 'shop.example.com:8443' },
  { what: 'every forwarding header forged', host: 'shop.example.com', headers: FORGED, expectedHost: 'shop.example.com' },
  { what: 'Host injecting a for= element', host: 'a",for="198.51.100.23', headers: [], expectedHost: '' },
  { what: 'Host injecting garbage and a loopback for=', host: 'a",garbage,for="127.0.0.1', headers: [], expectedHost: '' },
  { what: 'Host injecting proto and host', host: 'a";proto=https;host="evil.example', headers: [], expectedHost: '' },
  { what: 'Host injecting a second element with its own proto', host: 'a",for="127.0.0.1";proto="https', headers: FORGED, expectedHost: '' },
  // Hosts a proxy-side pattern might pass and the plugin refuses: none may get the header refused.
  { what: 'a label starting with a hyphen', host: '-bad.example', headers: [], expectedHost: '' },
  { what: 'a port with a leading zero', host: 'shop.example.com:0443', headers: [], expectedHost: '' },
  { what: 'a port above 65535', host: 'shop.example.com:70000', headers: [], expectedHost: '' },
  { what: 'a label of 64 characters', host: `${'a'.repeat(64)}.example`, headers: [], expectedHost: '' },
  { what: 'an IPv6 literal', host: '[2001:db8::1]:8443', headers: [], expectedHost: '[2001:db8::1]:8443' },
  { what: 'a broken IPv6 literal', host: '[::::]', headers: [], expectedHost: '' }
]

/**
 * Hosts holding a comma. Before, the published configs copied the client's Host into
 * X-Forwarded-Host, which the plugin reads as a list and takes one entry of:
 * `Host: good.example,evil.example` gave request.host 'evil.example'. Checked whole, such a Host
 * is malformed, so request.host is '' (rule 5).
 */
export const HOST_LISTS: Attempt[] = [
  { what: 'a Host holding two hosts', host: 'good.example,evil.example', headers: [], expectedHost: '' },
  { what: 'a Host whose last piece is another site', host: 'x,admin.example', headers: [], expectedHost: '' },
  { what: 'a Host with a quote and a comma', host: 'a"b,evil.example:8443', headers: [], expectedHost: '' },
  { what: 'a Host holding two hosts, X-Forwarded-Host forged too', host: 'good.example,evil.example', headers: [['X-Forwarded-Host', 'evil.example']], expectedHost: '' }
]

export async function send (port: number, path: string, attempt: Attempt): Promise<{ status: number, body: string }> {
  return await rawRequest({ host: '127.0.0.1', port, localAddress: CLIENT, path, hostLine: false, headers: [['Host', attempt.host], ...attempt.headers] })
}

/** An HTTP/1.0 request without Host, as old health probes send it. */
export async function sendWithoutHost (port: number, path: string): Promise<{ status: number, body: string }> {
  return await rawRequest({ host: '127.0.0.1', port, localAddress: CLIENT, path, hostLine: false, headers: [], version: '1.0' })
}

/**
 * Request heads through a proxy on `port` with ever more header lines of `size` bytes (short lines
 * pack nginx's buffers closest; HAProxy also counts lines, 101 at most), up to the first the proxy
 * does not pass on: how many lines it passed, the app's answer to the largest, and the proxy's
 * answer to the first it refused.
 */
export async function largestHead (port: number, path: string, size = 100): Promise<{ lines: number, largest: RawResponse, refused: RawResponse }> {
  let largest: RawResponse = { status: 0, body: '' }
  for (let lines = Math.floor(8000 / size); lines < 40_000 / size; lines++) {
    const headers: Array<[string, string]> = Array.from({ length: lines }, (_, i) => [`X-P${String(i).padStart(3, '0')}`, 'a'.repeat(size - 10)])
    const answer = await rawRequest({ host: '127.0.0.1', port, localAddress: CLIENT, path, headers })
    if (answer.status !== 200) return { lines: lines - 1, largest, refused: answer }
    largest = answer
  }
  throw new Error('the proxy passed on a head of 40 KB')
}
