import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import fastifyWebsocket from '@fastify/websocket'
import WebSocket from 'ws'
import broadcast, { type WebSocketRouteOptions } from '@scaleout/broadcast'
import { appFor, logSink, redisFor, waitUntil, type LogSink } from '../helpers/index.js'
import { PingClient } from './helpers.js'

// The websocket() route's ping heartbeat. Counted, not timed: the clients count the pings they
// see, and every assertion is about what happened after some number of them.

interface Routes { [path: string]: Omit<WebSocketRouteOptions, 'channels'> & { channels?: WebSocketRouteOptions['channels'] } }

t.test('websocket() ping heartbeat', async (t) => {
  const server = await redisFor(t)

  /** A listening app with one websocket() route per entry (channels: `?c=a,b`, unless given). */
  async function start (t: Test, routes: Routes, log?: LogSink): Promise<{ app: FastifyInstance, url: (path: string, channels?: string[]) => string, clients: PingClient[] }> {
    const app = appFor(t, { logger: log === undefined ? false : log.logger })
    await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
    await app.register(fastifyWebsocket)
    app.after(() => {
      for (const [path, options] of Object.entries(routes)) {
        app.broadcast.websocket(path, {
          channels: (request) => String((request.query as { c?: string }).c ?? '').split(',').filter((c) => c !== ''),
          ...options
        })
      }
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const clients: PingClient[] = []
    // Registered after the app's teardown, so it runs first: clients go before the app closes.
    t.teardown(() => { for (const c of clients) c.ws.terminate() })
    const base = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`
    return { app, clients, url: (path, channels = []) => `${base}${path}?c=${channels.join(',')}` }
  }

  t.test('a client that answers pings stays connected, attached and counted over many intervals', async (t) => {
    const { app, url, clients } = await start(t, { '/ws': { pingInterval: '50ms' } })
    const client = await new PingClient(url('/ws', ['room'])).opened()
    clients.push(client)
    await waitUntil('attached', () => app.broadcast.stats().sockets === 1)
    await client.seen(6)
    t.equal(client.ws.readyState, WebSocket.OPEN)
    t.equal(client.pingBytes, 0, 'pings without payload')
    t.match(app.broadcast.stats(), { sockets: 1, listeners: 1, unresponsiveDropped: 0, slowDropped: 0 })
    t.match(await app.broadcast.publish('room', 'still here'), { delivered: 1 })
    await waitUntil('delivered', () => client.received.length === 1)
    t.same(client.received, [{ channel: 'room', data: 'still here' }])
  })

  t.test('a client that never answers is terminated, detached and counted; the others stay', async (t) => {
    const log = logSink('debug')
    const { app, url, clients } = await start(t, { '/ws': { pingInterval: 50 } }, log)
    const live = await new PingClient(url('/ws', ['room'])).opened()
    const mute = await new PingClient(url('/ws', ['room', 'mute-only']), { autoPong: false }).opened()
    clients.push(live, mute)
    await waitUntil('both attached', () => app.broadcast.stats().sockets === 2)
    t.match(app.broadcast.stats(), { listeners: 3, channels: 3 })
    t.equal(await mute.closed, 1006, 'terminated: no close handshake with a client that is gone')
    t.equal(mute.pings, 1, 'dropped at the ping after the one it did not answer')
    t.match(app.broadcast.stats(), { sockets: 1, listeners: 1, unresponsiveDropped: 1, slowDropped: 0 })
    await waitUntil('its channel unsubscribed', () => app.broadcast.stats().channels === 2)
    t.match(await app.broadcast.publish('room', 'after'), { delivered: 1 })
    const seenAtDrop = live.pings
    await live.seen(seenAtDrop + 3)
    t.equal(live.ws.readyState, WebSocket.OPEN, 'the client that answers is still open')
    t.equal(app.broadcast.stats().unresponsiveDropped, 1)
    const dropped = log.lines.filter((l) => l.msg === '@scaleout/broadcast: dropped a WebSocket client that did not answer a ping')
    t.equal(dropped.length, 1)
    t.equal(dropped[0]?.level, 20, 'logged at debug, not warn')
  })

  t.test('a socket whose channels() has not answered yet is pinged, and dropped if it does not answer', async (t) => {
    const { app, url, clients } = await start(t, { '/pending': { pingInterval: 50, channels: async () => await new Promise<string[]>(() => {}) } })
    const mute = await new PingClient(url('/pending'), { autoPong: false }).opened()
    clients.push(mute)
    t.equal(await mute.closed, 1006)
    t.equal(mute.pings, 1)
    t.match(app.broadcast.stats(), { sockets: 0, unresponsiveDropped: 1 })
  })

  t.test('pingInterval: false sends no pings', async (t) => {
    const { app, url, clients } = await start(t, { '/on': { pingInterval: 50 }, '/off': { pingInterval: false } })
    const off = await new PingClient(url('/off', ['quiet']), { autoPong: false }).opened()
    const on = await new PingClient(url('/on')).opened()
    clients.push(off, on)
    await on.seen(5)
    t.equal(off.pings, 0)
    t.equal(off.ws.readyState, WebSocket.OPEN, 'a client that would not answer is kept')
    t.match(app.broadcast.stats(), { sockets: 2, unresponsiveDropped: 0 })
  })

  t.test('a socket past maxBufferedBytes when its ping is due is dropped as a slow client, not as unresponsive', async (t) => {
    const log = logSink('warn')
    const { app, url, clients } = await start(t, { '/ws': { pingInterval: 50, maxBufferedBytes: 64 * 1024 } }, log)
    const slow = await new PingClient(url('/ws', ['firehose'])).opened()
    clients.push(slow)
    await waitUntil('attached', () => app.broadcast.stats().sockets === 1)
    await slow.seen(2)
    const serverSocket = [...app.websocketServer.clients][0] as WebSocket
    // Corked, the server's TCP socket keeps what is written in bufferedAmount (as a full kernel
    // buffer would): the pings wait there too, unanswered. Three sends in one turn (local delivery
    // is synchronous), each checked under the limit when it was made, take it past 64 KiB at once.
    ;(serverSocket as unknown as { _socket: { cork: () => void } })._socket.cork()
    const body = 'x'.repeat(30_000)
    const results = await Promise.all([0, 1, 2].map(async (i) => await app.broadcast.publish('firehose', { i, body })))
    t.same(results.map((r) => r.delivered), [1, 1, 1])
    t.ok(serverSocket.bufferedAmount > 64 * 1024, 'the sends took it past the limit')
    t.equal(app.broadcast.stats().slowDropped, 0, 'no send after it to check the limit')
    t.equal(await slow.closed, 1006)
    t.match(app.broadcast.stats(), { sockets: 0, listeners: 0, slowDropped: 1, unresponsiveDropped: 0 })
    t.same(log.messages(40), ['@scaleout/broadcast: dropped a WebSocket client that reads too slowly'])
  })

  t.test('a socket already closing is left to its close handshake, not pinged or counted', async (t) => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => { release = resolve })
    const { app, url, clients } = await start(t, {
      '/ws': {
        pingInterval: 50,
        channels: async (request) => {
          if ((request.query as { c?: string }).c !== 'refuse') return []
          await gate
          throw new Error('refused')
        }
      }
    })
    const refused = await new PingClient(url('/ws', ['refuse'])).opened()
    // It stops reading, so it never answers the server's close frame: the server socket stays CLOSING.
    ;(refused.ws as unknown as { _socket: { pause: () => void } })._socket.pause()
    const live = await new PingClient(url('/ws')).opened()
    clients.push(refused, live)
    const serverSocket = [...app.websocketServer.clients][0] as WebSocket
    release()
    await waitUntil('closing', () => serverSocket.readyState === WebSocket.CLOSING)
    const seen = live.pings
    await live.seen(seen + 4)
    t.equal(serverSocket.readyState, WebSocket.CLOSING)
    t.equal(app.broadcast.stats().unresponsiveDropped, 0)
  })

  t.test('invalid pingInterval values are refused when the route is added, with a coded error', async (t) => {
    const app = appFor(t)
    await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
    await app.register(fastifyWebsocket)
    for (const pingInterval of [0, -1, 2 ** 31, '0ms', 'soon', '', true, null, {}, Number.NaN]) {
      t.throws(() => app.broadcast.websocket('/ws', { channels: () => [], pingInterval: pingInterval as never }), {
        code: 'SCALEOUT_ERR_INVALID_OPTION',
        message: /pingInterval/
      }, `pingInterval: ${JSON.stringify(pingInterval)}`)
    }
    t.throws(() => app.broadcast.websocket('/ws', { channels: () => [], pingInterval: 0 }), {
      message: '@scaleout/broadcast: option `pingInterval` is invalid: expected a duration from 1ms to 2147483647ms: a number of milliseconds or a string such as "500ms", "30s", "15m", "24h"'
    })
    t.doesNotThrow(() => app.broadcast.websocket('/a', { channels: () => [], pingInterval: '2s' }))
    t.doesNotThrow(() => app.broadcast.websocket('/b', { channels: () => [], pingInterval: 1 }))
  })

  t.test('one unref\'d timer per route, 30 s by default, cleared with its last socket and at close', async (t) => {
    const created: Array<{ timer: NodeJS.Timeout, ms: number | undefined }> = []
    const cleared = new Set<unknown>()
    const { setInterval: realSet, clearInterval: realClear } = globalThis
    globalThis.setInterval = ((fn: () => void, ms?: number) => {
      const timer = realSet(fn, ms)
      created.push({ timer, ms })
      return timer
    }) as typeof setInterval
    globalThis.clearInterval = ((timer?: NodeJS.Timeout) => {
      cleared.add(timer)
      realClear(timer)
    }) as typeof clearInterval
    t.teardown(() => {
      globalThis.setInterval = realSet
      globalThis.clearInterval = realClear
    })
    const ours = (): Array<{ timer: NodeJS.Timeout, ms: number | undefined }> => created.filter((c) => c.ms === 30_000 || c.ms === 40)
    const { app, url } = await start(t, { '/default': {}, '/fast': { pingInterval: 40 } })
    t.equal(ours().length, 0, 'no timer before the first socket')
    const a = await new PingClient(url('/default')).opened()
    const b = await new PingClient(url('/default')).opened()
    const c = await new PingClient(url('/default')).opened()
    await waitUntil('three sockets', () => app.websocketServer.clients.size === 3)
    t.same(ours().map((o) => o.ms), [30_000], 'one timer for three sockets, every 30 s by default')
    t.equal(ours()[0]?.timer.hasRef(), false, 'it does not hold the process open')
    for (const client of [a, b, c]) client.ws.close()
    await Promise.all([a.closed, b.closed, c.closed])
    await waitUntil('cleared with the last socket', () => cleared.has(ours()[0]?.timer))
    const fast = await new PingClient(url('/fast')).opened()
    const again = await new PingClient(url('/default')).opened()
    await fast.seen(2)
    t.same(ours().map((o) => o.ms), [30_000, 40, 30_000], 'a new timer with the next socket')
    await app.close()
    t.ok(ours().every((o) => cleared.has(o.timer)), 'every timer cleared at close')
    t.equal(await fast.closed, 1001, 'closed by the shutdown, as before')
    await again.closed
  })
})
