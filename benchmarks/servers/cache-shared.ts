import type { FastifyInstance } from 'fastify'

// What every cache benchmark server serves: one small user record, the same bytes from every variant.
export const record = { id: 42, name: 'Ada Lovelace', email: 'ada@example.com', roles: ['admin', 'author'], active: true, score: 98.5 }

/**
 * `hit`: one hot key, filled before measuring. `spread`: a uniform random key of `SPREAD_KEYS` per
 * request, all filled before measuring. `miss`: a new key per request (compute + store).
 */
export type Mode = 'hit' | 'spread' | 'miss'

/** How many keys the `spread` mode reads. */
export const SPREAD_KEYS = 10_000

export function modeOf (options: Record<string, unknown>): Mode {
  return options.mode === 'miss' || options.mode === 'spread' ? options.mode : 'hit'
}

let counter = 0
/** The key a request asks for: a fresh one per request in `miss` mode, a random one of many in `spread`. */
export function keyFor (mode: Mode): string {
  if (mode === 'miss') return `user:${process.pid}:${++counter}`
  return mode === 'spread' ? `user:${Math.floor(Math.random() * SPREAD_KEYS)}` : 'user:42'
}

/** The "database": what a miss computes. */
export async function load (): Promise<typeof record> {
  return record
}

/**
 * GET /user through `read` (the variant's cache read-through), and in `spread` mode POST /__fill,
 * which reads every key once so that the measured requests all hit.
 */
export function serveUser (app: FastifyInstance, mode: Mode, read: (key: string) => Promise<unknown>): void {
  app.get('/user', async () => await read(keyFor(mode)))
  if (mode !== 'spread') return
  app.post('/__fill', async () => {
    for (let i = 0; i < SPREAD_KEYS; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, SPREAD_KEYS - i) }, async (_, j) => await read(`user:${i + j}`)))
    }
    return { filled: SPREAD_KEYS }
  })
}
