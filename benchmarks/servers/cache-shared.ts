// What every cache benchmark server serves: one small user record, the same bytes from every variant.
export const record = { id: 42, name: 'Ada Lovelace', email: 'ada@example.com', roles: ['admin', 'author'], active: true, score: 98.5 }

/** `hit`: one key, filled before measuring. `miss`: a new key per request (compute + store). */
export type Mode = 'hit' | 'miss'

export function modeOf (options: Record<string, unknown>): Mode {
  return options.mode === 'miss' ? 'miss' : 'hit'
}

let counter = 0
/** The key a request asks for: a fresh one per request in `miss` mode. */
export function keyFor (mode: Mode): string {
  return mode === 'miss' ? `user:${process.pid}:${++counter}` : 'user:42'
}

/** The "database": what a miss computes. */
export async function load (): Promise<typeof record> {
  return record
}
