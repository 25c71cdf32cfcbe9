import type { FastifyInstance, FastifyServerOptions, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import session, { type SessionOptions } from '@scaleout/session'
import { appFor, monitorWhile, type RedisClusterHarness, type RedisServer } from '../helpers/index.js'

export const SECRET = 'test-secret-0123456789-abcdefghijklmnop'
export const OLD_SECRET = 'older-secret-0123456789-abcdefghijklmn'

declare module '@scaleout/session' {
  interface SessionData {
    userId?: string | number
    n?: number
  }
}

/** A Fastify app with the plugin and the routes most tests drive, closed when `t` ends. */
export async function build (t: Test, options: Partial<SessionOptions> & { redis: SessionOptions['redis'] }, fastifyOptions: FastifyServerOptions = {}, extra?: (app: FastifyInstance) => void): Promise<FastifyInstance> {
  const app = appFor(t, fastifyOptions)
  await app.register(session, { secret: SECRET, ...options })
  app.get('/get/:key', async (request) => {
    const { key } = request.params as { key: string }
    return { value: request.session.get(key) ?? null }
  })
  app.post('/set', async (request) => {
    for (const [key, value] of Object.entries(request.body as Record<string, unknown>)) request.session.set(key, value)
    return { ok: true }
  })
  app.post('/login', async (request) => {
    const { userId, keep } = request.body as { userId: string, keep?: string[] }
    await request.session.regenerate(keep)
    request.session.set('userId', userId)
    return { ok: true }
  })
  app.post('/logout', async (request) => {
    await request.session.destroy()
    return { ok: true }
  })
  app.get('/data', async (request) => request.session.data())
  app.get('/static', { config: { session: false } }, async () => ({ static: true }))
  extra?.(app)
  await app.ready()
  return app
}

/** The `name=value` part of the response's session Set-Cookie, or undefined. */
export function cookieOf (res: LightMyRequestResponse): string | undefined {
  const header = res.headers['set-cookie']
  const first = Array.isArray(header) ? header[0] : header
  return first?.split(';')[0]
}

/** Every Set-Cookie header of a response, as a list. */
export function setCookies (res: LightMyRequestResponse): string[] {
  const header = res.headers['set-cookie']
  return header === undefined ? [] : Array.isArray(header) ? header : [header]
}

export function valueOf (cookie: string): string {
  return cookie.slice(cookie.indexOf('=') + 1)
}

/** What connections, replicas and the counting itself send: not the request path's. */
const SETUP = new Set(['hello', 'client', 'select', 'info', 'config', 'replconf', 'ping'])

/** Round trips to Redis while `fn` runs: the commands clients sent, not those run inside scripts. */
export async function roundTrips<T> (redis: RedisServer | RedisClusterHarness, fn: () => Promise<T>): Promise<{ result: T, trips: number, commands: Record<string, number> }> {
  let trips = 0
  // A write's PEXPIRE goes out in the same write as its APPEND (see Store.expireBehind): no trip of its own.
  const last = new Map<string, string>()
  const seen = (source: string, name: string): void => {
    const behindAppend = name === 'pexpire' && last.get(source) === 'append'
    last.set(source, name)
    if (source !== 'lua' && !SETUP.has(name) && !behindAppend) trips++
  }
  // Each server watched around the next: the innermost runs `fn`, counted by commandstats.
  const servers = ('nodes' in redis ? redis.nodes : [redis]).filter((server) => server.running)
  const counted = servers.reduce<() => Promise<{ result: T, commands: Record<string, number> }>>(
    (inner, server) => async () => await monitorWhile(server.host, server.port, seen, inner),
  async () => await redis.countCommands(fn))
  const { result, commands } = await counted()
  return { result, trips, commands }
}

/**
 * The session keys (not user indexes, nor the forwarding records a regenerate() leaves behind for
 * a minute, see scripts.ts) currently in Redis.
 */
export async function sessionKeys (redis: RedisServer, prefix = 'scaleout:sess:'): Promise<string[]> {
  const client = redis.client()
  try {
    const keys = await client.keys(prefix + '{*')
    const values = keys.length === 0 ? [] : await client.mget(keys)
    return keys.filter((_, i) => !(values[i] ?? '').startsWith('{"m:n":')).sort()
  } finally {
    client.disconnect()
  }
}

/**
 * A stored session's fields as the plugin reads them: the open log closed, the last of repeated
 * fields kept, removed keys (null) dropped (see plugins/session/src/log.ts). Records (a
 * regenerated session's forwarding record) are closed objects and parse as they are.
 */
export function storedFields (text: string | null): Record<string, string> {
  if (text === null) throw new Error('no session stored')
  const parsed = JSON.parse(text.endsWith('}') ? text : text + '}') as Record<string, string | null>
  return Object.fromEntries(Object.entries(parsed).filter(([, value]) => value !== null)) as Record<string, string>
}
