import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import { resolveRedis, senderFor } from '@scaleout/core'
import type { BuildServer } from '../types.js'
import { profileFields, sessionBytes } from './session-common.js'

// Not a session plugin: the least any Redis-backed session can do, to measure against. The
// cookie is the key itself (no signature). A read is one GETEX (which slides the expiry, as a
// session read must) and a JSON.parse; a modification adds a SET of the whole object, last write
// wins (no merge, no check that the session still exists). Here sent the cheapest way the core
// knows (senderFor); session-floor-raw.ts sends the same with no client library.
// Option `hooks`: the same server with an empty onRequest and an empty onSend hook, the two hooks
// a session plugin needs on every route (to read the session before the handler, and to save it
// and set its cookie before the response goes out): what Fastify's running them costs by itself.
export const TTL = 86_400_000

type Send = (args: Array<string | number>) => Promise<unknown>
type Fields = Record<string, string | undefined>
/** Writes a modified session: by default the whole object, last write wins. */
export type FloorWrite = (key: string, fields: Fields, field: string) => Promise<unknown>

export const build: BuildServer = async ({ redisUrl, options }) => {
  const app = Fastify()
  if (options.hooks === true) {
    app.addHook('onRequest', function nothingBefore (_request, _reply, done) { done() })
    app.addHook('onSend', function nothingAfter (_request, _reply, payload, done) { done(null, payload) })
  }
  const { client, owned, duplicate } = await resolveRedis(app, redisUrl, { plugin: 'session-floor' })
  // The same send path as the plugin's: a connection of the sender's own (the lean link).
  const sender = senderFor(client, owned, 1000, [], duplicate)
  await sender.connected(5000)
  return floorRoutes(async ([name, ...args]) => await sender.command(String(name), args), { app, bytes: sessionBytes(options) })
}

export function floorRoutes (send: Send, { app = Fastify(), write, bytes }: { app?: FastifyInstance, write?: FloorWrite, bytes: number }): FastifyInstance {
  // The same data as every session row's (see session-common.ts), each value as its JSON.
  const stored: Fields = { 'd:userId': '"user-1"', 'd:roles': '["reader","writer"]' }
  for (const [key, value] of profileFields(bytes)) stored['d:' + key] = JSON.stringify(value)
  const data = JSON.stringify(stored)
  const save = write ?? (async (key: string, fields: Fields) => await send(['SET', key, JSON.stringify(fields), 'PX', TTL]))
  const read = async (cookie: string | undefined): Promise<{ key: string, fields: Fields }> => {
    const key = 'floor:' + (cookie ?? '').slice('sid='.length)
    const text = await send(['GETEX', key, 'PX', TTL]) as string | null
    return { key, fields: JSON.parse(text ?? '{}') as Fields }
  }
  app.post('/login', async (_request, reply) => {
    const id = randomBytes(32).toString('base64url')
    await send(['SET', 'floor:' + id, data, 'PX', TTL])
    reply.header('set-cookie', `sid=${id}; Path=/; HttpOnly`)
    return { ok: true }
  })
  app.get('/read', async (request) => {
    const { fields } = await read(request.headers.cookie)
    return { user: fields['d:userId'] === undefined ? null : JSON.parse(fields['d:userId']) as unknown }
  })
  app.get('/modify', async (request) => {
    const { key, fields } = await read(request.headers.cookie)
    const n = (fields['d:n'] === undefined ? 0 : JSON.parse(fields['d:n']) as number) + 1
    fields['d:n'] = JSON.stringify(n)
    await save(key, fields, 'd:n')
    return { n }
  })
  return app
}
