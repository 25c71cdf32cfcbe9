import type { FastifyInstance } from 'fastify'
import cache, { type CacheOptions } from '@scaleout/cache'
import type { Test } from 'tap'
import { appFor } from '../helpers/index.js'

/**
 * A Fastify instance with the cache registered and ready, closed at teardown. Unless a test is about
 * timeouts, Redis calls get a generous bound: on a loaded machine 250 ms is not always enough.
 * The heartbeat is off unless a test turns it on: its pings would show in command counts.
 */
export async function cacheApp (t: Test, options: CacheOptions, setup?: (app: FastifyInstance) => void | Promise<void>): Promise<FastifyInstance> {
  const app = appFor(t)
  await app.register(cache, { timeout: 3000, heartbeatInterval: false, ...options })
  await setup?.(app)
  await app.ready()
  return app
}

/**
 * The Redis key of `key` (kind `e` entry, `l` lease) in the namespace's current generation, which
 * Redis makes from its clock: an app must have read or made the generation first.
 */
export async function keyInGeneration (admin: { get: (key: string) => Promise<string | null> }, key: string, kind: 'e' | 'l' = 'e', namespace = 'scaleout:cache:json.v1:'): Promise<string> {
  const gen = await admin.get(`${namespace}gen`)
  if (gen === null) throw new Error(`${namespace}gen does not exist yet`)
  return `${namespace}${gen}:${kind}:${key}`
}
