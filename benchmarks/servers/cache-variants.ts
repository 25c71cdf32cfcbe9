import type { Variant } from '../types.js'
import type { Mode } from './cache-shared.js'

// Not a server: the variant list the cache scenarios share (kept here because scenarios/ holds only
// scenarios). Every cache scenario measures the same servers, in one of three modes, so each table
// shows the peers the issue names next to bare Fastify from the same run. The `spread` mode (many
// keys, Redis only) leaves out bentocache with its L1, which would answer from memory.
export function variants (mode: Mode, scaleout: Array<{ name: string, l1: boolean }>): Variant[] {
  const request = { path: '/user' }
  // Every key read once before measuring, so the measured requests all hit.
  const prepare = mode === 'spread'
    ? async (url: string): Promise<undefined> => {
      const res = await fetch(`${url}/__fill`, { method: 'POST' })
      if (!res.ok) throw new Error(`fill failed: ${res.status}`)
    }
    : undefined
  const peer = (name: string, server: string, options: Record<string, unknown>): Variant => ({ name, server, options: { mode, ...options }, request, ...(prepare === undefined ? {} : { prepare }) })
  return [
    { name: 'bare fastify', server: 'servers/cache-bare.ts', request },
    ...scaleout.map(({ name, l1 }) => peer(name, 'servers/cache-scaleout.ts', { l1 })),
    peer('raw ioredis GET + JSON.parse', 'servers/cache-raw-ioredis.ts', {}),
    peer('core sender GET + JSON.parse', 'servers/cache-raw-sender.ts', {}),
    peer('async-cache-dedupe (redis)', 'servers/cache-acd.ts', {}),
    peer('bentocache L2', 'servers/cache-bentocache.ts', { l1: false }),
    ...(mode === 'spread' ? [] : [peer('bentocache L1+L2+bus', 'servers/cache-bentocache.ts', { l1: true })])
  ]
}
