import type { FastifyInstance } from 'fastify'

// What the tests of the stored text (append-log, text-growth) share: a route that lets a test act
// on Redis between a request's read of its session and its write, and the fragments another
// writer (a racing request) appends.

/** What a gated route runs between its changes and its response's save; a test swaps `run`. */
export interface Between { run: () => Promise<void> }

/**
 * `POST /change-gated` with `{ set: { key: value }, remove: [keys] }`: sets and deletes those
 * session keys, runs `between.run()`, then answers `{ ok: true }` (the save follows in onSend).
 */
export function changeGated (app: FastifyInstance, between: Between): void {
  app.post('/change-gated', async (request) => {
    const { set, remove } = request.body as { set: Record<string, unknown>, remove: string[] }
    for (const [key, value] of Object.entries(set)) request.session.set(key, value)
    for (const key of remove) request.session.delete(key)
    await between.run()
    return { ok: true }
  })
}

/** A fragment as a writer other than the plugin's own request would append it: padded to 64 bytes. */
export function fragmentOf (fields: Record<string, string>): string {
  const text = Object.entries(fields).map(([k, v]) => ',' + JSON.stringify(k) + ':' + JSON.stringify(v)).join('')
  return text + ' '.repeat((64 - Buffer.byteLength(text) % 64) % 64)
}
