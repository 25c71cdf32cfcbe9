import t, { type Test } from 'tap'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import fastifyWebsocket from '@fastify/websocket'
import WebSocket from 'ws'
import broadcast, { type BroadcastOptions, type WebSocketRouteOptions } from '@scaleout/broadcast'
import { HEARTBEAT_PREFIX } from '@scaleout/core'
import { adminFor, appFor, logSink, redisFor, waitUntil } from '../helpers/index.js'
import { Client, PREFIX, waitRedisSubscribers } from './helpers.js'

type Outcome = { open: true } | { status: number, body: unknown }

/** Opens a WebSocket with the given headers: open, or the HTTP answer that refused the upgrade. */
async function handshake (url: string, headers: Record<string, string>): Promise<Outcome> {
  const ws = new WebSocket(url, { headers })
  return await new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate()
      resolve({ open: true })
    })
    ws.once('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => { text += chunk.toString() })
      res.on('end', () => resolve({ status: res.statusCode as number, body: JSON.parse(text) }))
    })
    ws.once('error', (err) => { if (!/Unexpected server response/.test(err.message)) reject(err) })
  })
}

async function start (t: Test, options: BroadcastOptions, routes: Record<string, Partial<WebSocketRouteOptions>>, fastify: FastifyServerOptions = {}): Promise<{ app: FastifyInstance, base: string, port: number }> {
  const app = appFor(t, fastify)
  await app.register(broadcast, { heartbeatInterval: false, ...options })
  await app.register(fastifyWebsocket)
  app.after(() => {
    for (const [path, route] of Object.entries(routes)) app.broadcast.websocket(path, { channels: () => ['room'], ...route })
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  return { app, base: `ws://127.0.0.1:${port}`, port }
}

t.test('broadcast as an attacker sees it', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)

  t.test('cross-site WebSocket hijacking: a page on another origin is refused before the upgrade', async (t) => {
    const { app, base, port } = await start(t, { redis: server.url }, { '/ws': {} })
    const refused = { status: 403, body: { statusCode: 403, code: 'SCALEOUT_ERR_BROADCAST_ORIGIN', error: 'Forbidden', message: 'WebSocket connections from origin "https://evil.example" are not accepted' } }
    t.same(await handshake(`${base}/ws`, { origin: 'https://evil.example' }), refused)
    t.same(await handshake(`${base}/ws`, { origin: `http://localhost:${port}` }), { ...refused, body: { ...refused.body, message: `WebSocket connections from origin "http://localhost:${port}" are not accepted` } }, 'another host name for the same server is another origin')
    t.same(await handshake(`${base}/ws`, { origin: 'http://127.0.0.1:1' }), { ...refused, body: { ...refused.body, message: 'WebSocket connections from origin "http://127.0.0.1:1" are not accepted' } }, 'same host, other port')
    t.same(await handshake(`${base}/ws`, { origin: 'null' }), { ...refused, body: { ...refused.body, message: 'WebSocket connections from origin "null" are not accepted' } }, 'an opaque origin (sandboxed frame, file://)')
    t.match(await handshake(`${base}/ws`, { origin: `ftp://127.0.0.1:${port}` }), { status: 403 }, 'not a web origin')
    t.match(await handshake(`${base}/ws`, { origin: `http://127.0.0.1:${port}`, host: 'not a host' }), { status: 403 }, 'a Host header that is no host')
    t.equal(app.broadcast.stats().sockets, 0, 'no refused handshake became a socket')
    t.same(await handshake(`${base}/ws`, { origin: `http://127.0.0.1:${port}` }), { open: true }, 'same origin')
    t.same(await handshake(`${base}/ws`, {}), { open: true }, 'no Origin: not a browser page')
  })

  t.test('a plain-HTTP page is not the origin of a request that came over TLS', async (t) => {
    // Behind a proxy the app trusts, the request's protocol is the one the browser used.
    const { base, port } = await start(t, { redis: server.url }, { '/ws': {} }, { trustProxy: '127.0.0.1' })
    const tls = { 'x-forwarded-proto': 'https' }
    t.same(await handshake(`${base}/ws`, { ...tls, origin: `http://127.0.0.1:${port}` }), { status: 403, body: { statusCode: 403, code: 'SCALEOUT_ERR_BROADCAST_ORIGIN', error: 'Forbidden', message: `WebSocket connections from origin "http://127.0.0.1:${port}" are not accepted` } })
    t.same(await handshake(`${base}/ws`, { ...tls, origin: `https://127.0.0.1:${port}` }), { open: true }, 'the https page on that host and port')
    t.same(await handshake(`${base}/ws`, { origin: `https://127.0.0.1:${port}` }), { open: true }, 'an https page, with TLS ended by a proxy the app is not told about')
    t.same(await handshake(`${base}/ws`, { origin: `http://127.0.0.1:${port}` }), { open: true }, 'plain HTTP both ways')
  })

  t.test('allowedOrigins: a list or a function on the plugin, overridden per route; same origin always passes', async (t) => {
    const seen: string[] = []
    const { base, port } = await start(t, { redis: server.url, allowedOrigins: ['https://app.example/', 'https://two.example'] }, {
      '/ws': {},
      '/fn': { allowedOrigins: (origin, request) => { seen.push(`${origin} ${request.url}`); return origin.endsWith('.partner.example') }, route: { onRequest: async () => {} } },
      '/list': { allowedOrigins: ['https://other.example'], route: { onRequest: [async () => { seen.push('user hook') }] } }
    })
    t.same(await handshake(`${base}/ws`, { origin: 'https://app.example' }), { open: true })
    t.same(await handshake(`${base}/ws`, { origin: 'https://app.example', host: 'app.example:443' }), { open: true }, 'listed')
    t.same(await handshake(`${base}/ws`, { origin: 'https://same.example', host: 'same.example:443' }), { open: true }, 'same origin on the default port, whether the Host names it or not')
    t.same(await handshake(`${base}/ws`, { origin: 'https://same.example:443', host: 'same.example' }), { open: true })
    t.match(await handshake(`${base}/ws`, { origin: 'https://other.example' }), { status: 403 })
    t.same(await handshake(`${base}/fn`, { origin: 'https://a.partner.example' }), { open: true })
    t.match(await handshake(`${base}/fn`, { origin: 'https://app.example' }), { status: 403 })
    t.same(await handshake(`${base}/fn`, { origin: `http://127.0.0.1:${port}` }), { open: true })
    t.same(seen, ['https://a.partner.example /fn', 'https://app.example /fn'], 'the function is not asked about same-origin pages')
    seen.length = 0
    t.match(await handshake(`${base}/list`, { origin: 'https://app.example' }), { status: 403 })
    t.same(seen, [], 'the Origin check runs before the route\'s own hooks')
    t.same(await handshake(`${base}/list`, { origin: 'https://other.example' }), { open: true })
    t.same(seen, ['user hook'])
  })

  t.test('an 80 MiB frame is refused with close code 1009, and a route can set its own limit', async (t) => {
    const received: number[] = []
    const { base } = await start(t, { redis: server.url }, {
      '/ws': { onMessage: (data) => { received.push(data.length) } },
      '/small': { maxBytes: 100, onMessage: (data) => { received.push(data.length) } }
    })
    const big = await Client.connect(`${base}/ws`, [])
    big.ws.on('error', () => {})
    big.ws.send(Buffer.alloc(80 * 1024 * 1024, 0x61))
    t.equal(await big.closed, 1009)
    const exact = await Client.connect(`${base}/ws`, [])
    t.teardown(() => exact.close())
    exact.ws.send(Buffer.alloc(65_536, 0x61))
    await waitUntil('the 64 KiB frame', () => received.length === 1)
    const small = await Client.connect(`${base}/small`, [])
    small.ws.on('error', () => {})
    small.ws.send(Buffer.alloc(101, 0x61))
    t.equal(await small.closed, 1009)
    t.same(received, [65_536], 'nothing over a limit reached onMessage')
  })

  t.test('a lower server-wide ws limit stays; ws\'s "no limit" (0) gets ours', async (t) => {
    for (const [maxPayload, size, code] of [[50, 60, 1009], [0, 65_537, 1009]] as const) {
      const app = appFor(t)
      await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
      await app.register(fastifyWebsocket, { options: { maxPayload } })
      app.after(() => { app.broadcast.websocket('/ws', { channels: () => [] }) })
      await app.listen({ host: '127.0.0.1', port: 0 })
      const client = await Client.connect(`ws://127.0.0.1:${(app.server.address() as { port: number }).port}/ws`, [])
      client.ws.on('error', () => {})
      client.ws.send(Buffer.alloc(size, 0x61))
      t.equal(await client.closed, code, `server maxPayload ${maxPayload}, a frame of ${size} bytes`)
    }
  })

  t.test('a forged message spelling __proto__ with JSON escapes never reaches a client or handler with that key', async (t) => {
    const { app, base } = await start(t, { redis: server.url }, { '/ws': {} })
    const client = await Client.connect(`${base}/ws`, [])
    t.teardown(() => client.close())
    const raw: string[] = []
    client.ws.on('message', (data: Buffer) => raw.push(data.toString()))
    const handled: unknown[] = []
    app.broadcast.subscribe('room', (message) => { handled.push(message) })
    await waitUntil('attached', () => app.broadcast.stats().sockets === 1)
    await waitRedisSubscribers(admin, 'room', 1)
    const envelope = (n: number, body: string): string => `{"v":1,"id":"00000000-0000-4000-8000-00000000000${n}","o":"forger","t":1,"d":${body}}`
    await admin.publish(PREFIX + 'c:room', envelope(1, '{"a":1,"\\u005f_proto__":{"polluted":true}}'))
    await admin.publish(PREFIX + 'c:room', envelope(2, '{"b":2,"\\u0063onstructor":{"\\u0070rototype":{"polluted":true}}}'))
    await admin.publish(PREFIX + 'c:room', envelope(3, '{"c":3,"__proto__":{"polluted":true}}'))
    await admin.publish(PREFIX + 'c:room', envelope(4, '"last"'))
    await waitUntil('the last message', () => raw.some((text) => text.includes('"last"')))
    const frames = raw.map((text) => JSON.parse(text) as { data: unknown })
    const unsafe = (v: unknown): boolean => v !== null && typeof v === 'object' && (Object.hasOwn(v, '__proto__') ||
      (Object.hasOwn(v, 'constructor') && Object.hasOwn((v as { constructor: object }).constructor, 'prototype')) || Object.values(v).some(unsafe))
    t.same(frames.filter((f) => unsafe(f.data)), [], 'no frame carries a prototype key')
    t.same(handled.filter(unsafe), [], 'no handler got one')
    t.same(frames.at(-1), { channel: 'room', data: 'last' })
    t.ok(frames.some((f) => JSON.stringify(f.data) === '{"c":3}'), 'the literal spelling is delivered stripped')
    t.equal(({} as { polluted?: boolean }).polluted, undefined)
  })

  t.test('a local message with an own __proto__ key (client input run through JSON.parse) reaches sockets stripped', async (t) => {
    const { app, base } = await start(t, { redis: server.url }, { '/ws': {} })
    const local = await Client.connect(`${base}/ws`, [])
    t.teardown(() => local.close())
    const raw: string[] = []
    local.ws.on('message', (data: Buffer) => raw.push(data.toString()))
    await waitUntil('attached', () => app.broadcast.stats().sockets === 1)
    await app.broadcast.publish('room', JSON.parse('{"a":1,"__proto__":{"polluted":true}}'))
    await waitUntil('delivered', () => raw.length === 1)
    t.same(raw, ['{"channel":"room","data":{"a":1}}'])
  })

  t.test('what anyone who can PUBLISH sends on an instance\'s own channel is never delivered', async (t) => {
    const sink = logSink('warn')
    const { app } = await start(t, { redis: server.url, heartbeatInterval: 60_000 }, {}, { logger: sink.logger })
    const handled: unknown[] = []
    app.broadcast.subscribe('room', (message) => { handled.push(message) })
    await waitRedisSubscribers(admin, 'room', 1)
    const home = PREFIX + 'hb:' + app.broadcast.instanceId
    // A forged ping proves nothing it could fake: it only arrives over a link that delivers.
    await admin.publish(home, `${HEARTBEAT_PREFIX}forged:999999999`)
    // A valid envelope on the wrong channel is not a message of any channel.
    await admin.publish(home, '{"v":1,"id":"00000000-0000-4000-8000-000000000001","o":"forger","t":1,"d":"x"}')
    await waitUntil('rejected', () => app.broadcast.stats().rejected === 1)
    t.same(sink.messages(40), ['@scaleout/broadcast: dropped a message that is not a valid envelope'], 'the ping went unlogged, the envelope was refused')
    t.equal(app.broadcast.stats().received, 0)
    t.same(handled, [])
  })
})
