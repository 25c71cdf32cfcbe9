import type { Variant } from '../types.js'

// Not a server: the variant list the cache scenarios share (kept here because scenarios/ holds only
// scenarios). Every cache scenario measures the same seven servers, in one of three modes, so each table shows
// the peers the issue names next to bare Fastify from the same run.
export function variants (mode: 'hit' | 'miss', scaleout: Array<{ name: string, l1: boolean }>): Variant[] {
  const request = { path: '/user' }
  return [
    { name: 'bare fastify', server: 'servers/cache-bare.ts', request },
    ...scaleout.map(({ name, l1 }) => ({ name, server: 'servers/cache-scaleout.ts', options: { mode, l1 }, request })),
    { name: 'raw ioredis GET + JSON.parse', server: 'servers/cache-raw-ioredis.ts', options: { mode }, request },
    { name: 'async-cache-dedupe (redis)', server: 'servers/cache-acd.ts', options: { mode }, request },
    { name: 'bentocache L2', server: 'servers/cache-bentocache.ts', options: { mode, l1: false }, request },
    { name: 'bentocache L1+L2+bus', server: 'servers/cache-bentocache.ts', options: { mode, l1: true }, request }
  ]
}
