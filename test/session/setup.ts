import { once } from 'node:events'
import { connect } from 'node:net'
import type { FastifyInstance, FastifyServerOptions, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import session, { type SessionOptions } from '@scaleout/session'
import { appFor, type RedisClusterHarness, type RedisServer } from '../helpers/index.js'

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
  const { result } = await watching('nodes' in redis ? redis.nodes : [redis], (source, name) => {
    if (source !== 'lua' && !SETUP.has(name)) trips++
  }, async () => await redis.countCommands(fn))
  return { result: result.result, trips, commands: result.commands }
}

/**
 * Runs `fn` with MONITOR on each server, telling `seen` the source ("lua" inside a script, else the
 * client's address) and name of each command; returns once the servers' lines stop coming.
 */
async function watching<T> (servers: RedisServer[], seen: (source: string, name: string) => void, fn: () => Promise<T>): Promise<{ result: T }> {
  let lines = 0
  const sockets = await Promise.all(servers.filter((s) => s.running).map(async (server) => {
    const socket = connect({ host: server.host, port: server.port })
    socket.setEncoding('utf8')
    let buffered = ''
    socket.on('data', (chunk: string) => {
      const parts = (buffered + chunk).split('\r\n')
      buffered = parts.pop() as string
      for (const line of parts) {
        const match = /^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]*)"/.exec(line)
        if (match === null) continue
        lines++
        seen(match[1] as string, (match[2] as string).toLowerCase())
      }
    })
    socket.write('MONITOR\r\n')
    await once(socket, 'data')
    return socket
  }))
  try {
    const result = await fn()
    for (let last = -1; last !== lines;) {
      last = lines
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return { result }
  } finally {
    for (const socket of sockets) socket.destroy()
  }
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
