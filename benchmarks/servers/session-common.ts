import { randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Variant } from '../types.js'

// Every session server answers the same three routes, so each row measures the same work:
//   POST /login   starts a session holding a user id, roles and a profile of eight fields that
//                 bring its data to `bytes` (option `bytes`, 1 KB by default; run once, by prepare)
//   GET  /read    reads one value (read-only request)
//   GET  /modify  increments a counter (modifying request)

/** Logs in once and returns the Cookie header every measured request sends. */
export async function login (baseUrl: string): Promise<Record<string, string>> {
  const res = await fetch(baseUrl + '/login', { method: 'POST' })
  if (res.status !== 200) throw new Error(`login failed with ${res.status}`)
  const cookies = res.headers.getSetCookie().map((c) => c.split(';')[0])
  if (cookies.length === 0) throw new Error('login set no cookie')
  return { cookie: cookies.join('; ') }
}

/** Logs in once per connection: every connection then reads its own session. */
export async function loginEach (baseUrl: string): Promise<Array<Record<string, string>>> {
  const sessions: Array<Record<string, string>> = []
  for (let i = 0; i < SESSIONS; i++) sessions.push(await login(baseUrl))
  return sessions
}

/** One per benchmark connection (the runner's default of 50). */
const SESSIONS = 50

/** The core-sender read floor with the two (empty) hooks a session plugin adds to every route. */
export const FLOOR_WITH_HOOKS = 'floor + an empty onRequest and onSend hook'

/** Our session on the app's one client (@fastify/redis) rather than on a client of its own. */
export const SHARED = '@scaleout/session, shared @fastify/redis client'

/**
 * The same rows for each scenario: bare Fastify, ours, and the peers the issue names. `cookie`:
 * none, one session shared by every connection (a browser's parallel requests), or one each.
 */
export function sessionVariants (path: '/read' | '/modify', cookie: 'none' | 'shared' | 'each', bytes = DEFAULT_BYTES): Variant[] {
  const prepare = cookie === 'shared' ? login : cookie === 'each' ? loginEach : undefined
  const row = (name: string, server: string): Variant => ({ name, server, request: { path }, options: { bytes }, ...(prepare !== undefined ? { prepare } : {}) })
  return [
    row('bare fastify', 'servers/session-bare.ts'),
    row('@scaleout/session', 'servers/session-scaleout.ts'),
    row(SHARED, 'servers/session-shared.ts'),
    row('@fastify/session + connect-redis', 'servers/session-fastify.ts'),
    // A session in the cookie itself: browsers keep cookies under 4 KB.
    ...(bytes <= 2048 ? [row('@fastify/secure-session', 'servers/session-secure.ts')] : [])
  ]
}

/** A benchmark session's data, in bytes, unless a scenario asks for another size. */
const DEFAULT_BYTES = 1024

/** The session size a server was asked for (its variant's `bytes` option). */
export function sessionBytes (options: Record<string, unknown>): number {
  return typeof options['bytes'] === 'number' ? options['bytes'] : DEFAULT_BYTES
}

/**
 * The eight profile fields a logged-in session holds besides its user id and roles, together
 * about `bytes` of data: a realistic session changes one small key among several larger ones.
 */
export function profileFields (bytes: number): Array<[string, string]> {
  const each = Math.max(1, Math.floor((bytes - 64) / 8) - 6)
  return Array.from({ length: 8 }, (_, i) => ['p' + i, String.fromCharCode(97 + i).repeat(each)])
}

/**
 * Reference rows that are no session plugin: the same requests against servers doing only the
 * Redis round trips any Redis-backed session needs, through the core's sender and through no
 * client library at all. No session can beat them, so a target can be read against them.
 */
export function floorVariants (path: '/read' | '/modify', bytes = DEFAULT_BYTES): Variant[] {
  const [bare] = sessionVariants(path, 'each', bytes) as [Variant]
  const work = path === '/read' ? 'one GETEX + JSON.parse' : 'GETEX, then SET of the whole object'
  const rows = [
    { ...bare, name: `floor: ${work}, no session logic`, server: 'servers/session-floor.ts' },
    { ...bare, name: `floor, no client library: ${work}`, server: 'servers/session-floor-raw.ts' }
  ]
  // What separates any session plugin from the floor before it does anything: its two hooks.
  if (path === '/read') return [...rows, { ...bare, name: FLOOR_WITH_HOOKS, server: 'servers/session-floor.ts', options: { bytes, hooks: true } }]
  // A blind SET loses parallel writers' changes and revives destroyed sessions; this is the
  // least a write that does neither costs (see session-floor-raw.ts).
  return [...rows, { ...bare, name: 'floor, no client library: GETEX, then a merging script', server: 'servers/session-floor-raw.ts', options: { bytes, merge: true } }]
}

/** What the routes need of a session, whichever plugin provides it. */
export interface BenchSession {
  get: (key: string) => unknown
  set: (key: string, value: unknown) => void
  regenerate?: () => Promise<void>
}

/**
 * A user id of its own for each login, as long as the floors' 'user-1': one user logged in 50 times
 * per row would, with several rows of ours on one Redis, pass @scaleout/session's default
 * maxSessionsPerUser (100), and the later rows' logins would end the first row's sessions.
 */
function newUserId (): string {
  return 'u-' + randomBytes(3).toString('base64url')
}

/**
 * The three routes, identical for every session plugin. A request that sent a cookie and finds no
 * user in its session gets a 401, so a row whose sessions were lost shows in the non2xx column
 * instead of measuring the creation of new sessions.
 */
export function sessionRoutes (app: FastifyInstance, sessionOf: (request: FastifyRequest) => BenchSession, bytes: number): void {
  const profile = profileFields(bytes)
  app.post('/login', async (request) => {
    await sessionOf(request).regenerate?.()
    // Looked up again: @fastify/session's regenerate() replaces request.session.
    sessionOf(request).set('userId', newUserId())
    sessionOf(request).set('roles', ['reader', 'writer'])
    for (const [key, value] of profile) sessionOf(request).set(key, value)
    return { ok: true }
  })
  app.get('/read', async (request, reply) => {
    const user = sessionOf(request).get('userId') ?? null
    if (user === null && request.headers.cookie !== undefined) return await reply.code(401).send({ error: 'session lost' })
    return { user }
  })
  app.get('/modify', async (request, reply) => {
    if ((sessionOf(request).get('userId') ?? null) === null) return await reply.code(401).send({ error: 'session lost' })
    const n = ((sessionOf(request).get('n') as number | undefined) ?? 0) + 1
    sessionOf(request).set('n', n)
    return { n }
  })
}
