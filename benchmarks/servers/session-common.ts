import type { Variant } from '../types.js'

// Every session server answers the same three routes, so each row measures the same work:
//   POST /login   starts a session holding a user id and a little data (run once, by prepare)
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

/** The same rows for each scenario: bare Fastify, ours, and the peers the issue names. */
export function sessionVariants (path: '/read' | '/modify', withCookie: boolean): Variant[] {
  const prepare = withCookie ? login : undefined
  const row = (name: string, server: string): Variant => ({ name, server, request: { path }, ...(prepare !== undefined ? { prepare } : {}) })
  return [
    row('bare fastify', 'servers/session-bare.ts'),
    row('@scaleout/session', 'servers/session-scaleout.ts'),
    row('@fastify/session + connect-redis', 'servers/session-fastify.ts'),
    row('@fastify/secure-session', 'servers/session-secure.ts')
  ]
}
