import Fastify from 'fastify'
import { resolveRedis, senderFor } from '@scaleout/core'
import type { BuildServer } from '../types.js'
import { load, modeOf, serveUser } from './cache-shared.js'

/** The raw row's GET + JSON.parse through the core's sender (the cache's send path), no cache logic: the floor of that path. */
export const build: BuildServer = async ({ redisUrl, options }) => {
  const app = Fastify()
  const { client, owned, duplicate } = await resolveRedis(app, redisUrl, { plugin: 'cache-raw-sender' })
  // The same send path as the cache's: a connection of the sender's own (the lean link).
  const send = senderFor(client, owned, 250, [], duplicate)
  await send.connected(5000)
  serveUser(app, modeOf(options), async (key) => {
    const raw = await send.getBuffer(key)
    if (raw !== null) return JSON.parse(raw.toString()) as unknown
    const value = await load()
    await send.command('set', [key, JSON.stringify(value), 'EX', 3600])
    return value
  })
  return app
}
