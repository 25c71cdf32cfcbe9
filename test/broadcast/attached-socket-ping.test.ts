import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import fastifyWebsocket from '@fastify/websocket'
import WebSocket from 'ws'
import broadcast, { type AttachOptions, type WebSocketRouteOptions } from '@scaleout/broadcast'
import { appFor, redisFor, waitUntil } from '../helpers/index.js'
import { PingClient } from './helpers.js'

// A socket of the app's own route, passed to attach(), was never pinged: a client that vanished
// without closing stayed attached, counted and held (its channels subscribed) until the kernel gave
// up on its link, and a quiet one was cut by a proxy's idle timeout. attach() now pings it as the
// websocket() route pings its own (pingInterval, 30 s by default).

t.test('attach() pings the sockets of your own route', async (t) => {
  const server = await redisFor(t)

  /**
   * A listening app whose own `{ websocket: true }` route attaches each socket to `?c=` once per
   * entry of `attachments` (an attach() options object each), keeping their detaches in `detaches`.
   */
  async function start (t: Test, attachments: AttachOptions[], route: Omit<WebSocketRouteOptions, 'channels'> = {}): Promise<{ app: FastifyInstance, url: (channels: string[]) => string, clients: PingClient[], serverSocket: () => WebSocket, detaches: Array<() => void> }> {
    const app = appFor(t)
    const detaches: Array<() => void> = []
    await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
    await app.register(fastifyWebsocket)
    app.after(() => {
      app.get('/own', { websocket: true }, (socket, request) => {
        const channels = String((request.query as { c?: string }).c ?? '').split(',').filter((c) => c !== '')
        for (const options of attachments) detaches.push(app.broadcast.attach(socket, channels, options))
      })
      app.broadcast.websocket('/route', { channels: () => ['r'], ...route })
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const clients: PingClient[] = []
    t.teardown(() => { for (const c of clients) c.ws.terminate() })
    const base = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`
    return { app, clients, detaches, url: (channels) => `${base}/own?c=${channels.join(',')}`, serverSocket: () => [...app.websocketServer.clients][0] as WebSocket }
  }

  t.test('an attached client that never answers is terminated, detached and counted; one that answers stays', async (t) => {
    // 250 ms, not less: on a loaded machine the client that answers must get its pong in within an interval.
    const { app, url, clients } = await start(t, [{ pingInterval: 250 }])
    const live = await new PingClient(url(['room'])).opened()
    const mute = await new PingClient(url(['room', 'mute-only']), { autoPong: false }).opened()
    clients.push(live, mute)
    await waitUntil('both attached', () => app.broadcast.stats().sockets === 2)
    t.match(app.broadcast.stats(), { listeners: 3, channels: 3 })
    t.equal(await mute.closed, 1006, 'terminated: a client that is gone cannot complete a close handshake')
    t.equal(mute.pings, 1, 'dropped at the ping after the one it did not answer')
    t.match(app.broadcast.stats(), { sockets: 1, listeners: 1, unresponsiveDropped: 1, slowDropped: 0 })
    await waitUntil('its channel unsubscribed', () => app.broadcast.stats().channels === 2)
    await live.seen(live.pings + 3)
    t.equal(live.ws.readyState, WebSocket.OPEN)
    t.match(app.broadcast.stats(), { sockets: 1, unresponsiveDropped: 1 })
  })

  t.test('by default, once per socket however many attachments; taken back with the last detach', async (t) => {
    const { app, url, clients, serverSocket, detaches } = await start(t, [{}, {}])
    const client = await new PingClient(url(['a'])).opened()
    clients.push(client)
    await waitUntil('attached', () => app.broadcast.stats().sockets === 1)
    const socket = serverSocket()
    // ws emits 'pong' to each listener: one listener is one sweep (the default 30 s is not waited for).
    t.equal(socket.listenerCount('pong'), 1, 'in one ping sweep')
    t.equal(socket.listenerCount('close'), 3, 'ws\'s own, the membership\'s and the sweep\'s')
    const detach = app.broadcast.attach(socket, ['b'])
    t.equal(socket.listenerCount('pong'), 1)
    detach()
    detaches[0]?.()
    t.equal(socket.listenerCount('pong'), 1, 'pinged while an attachment holds it')
    // The app takes its socket back: it is no longer ours to ping, nor to drop.
    detaches[1]?.()
    t.equal(socket.listenerCount('pong'), 0, 'no longer pinged once no attachment holds it')
    t.equal(socket.listenerCount('close'), 1, 'only ws\'s own close listener left')
    t.match(app.broadcast.stats(), { sockets: 0, listeners: 0 })
    t.equal(client.ws.readyState, WebSocket.OPEN)
  })

  t.test('pingInterval: false sends no pings; the smallest interval of a socket\'s attachments wins', async (t) => {
    const { app, url, clients, serverSocket } = await start(t, [{ pingInterval: false }])
    const quiet = await new PingClient(url(['q']), { autoPong: false }).opened()
    clients.push(quiet)
    await waitUntil('attached', () => app.broadcast.stats().sockets === 1)
    const socket = serverSocket()
    t.equal(socket.listenerCount('pong'), 0, 'not pinged')
    app.broadcast.attach(socket, ['slow'], { pingInterval: '1h' })
    app.broadcast.attach(socket, ['fast'], { pingInterval: '50ms' })
    app.broadcast.attach(socket, ['slower'], { pingInterval: '2h' })
    t.equal(socket.listenerCount('pong'), 1, 'in one sweep, the 50 ms one')
    t.equal(await quiet.closed, 1006, 'dropped by the 50 ms sweep')
    t.equal(quiet.pings, 1)
    t.match(app.broadcast.stats(), { sockets: 0, listeners: 0, unresponsiveDropped: 1 })
  })

  t.test('a websocket() route\'s sockets are pinged by the route alone', async (t) => {
    for (const pingInterval of [50, false] as const) {
      const { app, clients } = await start(t, [], { pingInterval })
      const client = await new PingClient(`ws://127.0.0.1:${(app.server.address() as { port: number }).port}/route`).opened()
      clients.push(client)
      await waitUntil('attached', () => app.broadcast.stats().sockets === 1)
      const socket = [...app.websocketServer.clients][0] as WebSocket
      t.equal(socket.listenerCount('pong'), pingInterval === false ? 0 : 1, `pingInterval: ${String(pingInterval)}`)
    }
  })

  // An app joining rooms from onMessage attaches the route's sockets itself: the route's pingInterval
  // (its `false` too) is still the one that applies, not attach()'s default.
  t.test('a websocket() route\'s socket that the app attaches again is still pinged by the route alone', async (t) => {
    for (const pingInterval of [50, false] as const) {
      const { app, clients } = await start(t, [], { pingInterval, onMessage: (data, socket) => { app.broadcast.attach(socket, [data.toString()]) } })
      const client = await new PingClient(`ws://127.0.0.1:${(app.server.address() as { port: number }).port}/route`).opened()
      clients.push(client)
      client.ws.send('room:1')
      await waitUntil('in both channels', () => app.broadcast.stats().listeners === 2)
      const socket = [...app.websocketServer.clients][0] as WebSocket
      t.equal(socket.listenerCount('pong'), pingInterval === false ? 0 : 1, `pingInterval: ${String(pingInterval)}`)
    }
  })

  t.test('a socket without ping() (not a ws WebSocket) is attached and not pinged', async (t) => {
    const { app } = await start(t, [])
    const socket = { readyState: 1, bufferedAmount: 0, send: () => {}, close: () => {}, terminate: () => {}, once: () => {}, removeListener: () => {} }
    const detach = app.broadcast.attach(socket, ['x'], { pingInterval: 1 })
    t.match(app.broadcast.stats(), { sockets: 1, listeners: 1 })
    detach()
    t.match(app.broadcast.stats(), { sockets: 0, listeners: 0 })
  })

  t.test('an invalid pingInterval is refused with a coded error, and nothing is attached', async (t) => {
    const { app } = await start(t, [])
    const socket = { readyState: 1, bufferedAmount: 0, send: () => {}, close: () => {}, terminate: () => {}, once: () => {} }
    for (const pingInterval of [0, -1, 2 ** 31, 'soon', true, null]) {
      t.throws(() => app.broadcast.attach(socket, ['x'], { pingInterval: pingInterval as never }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `pingInterval` is invalid/ }, `pingInterval: ${JSON.stringify(pingInterval)}`)
    }
    t.match(app.broadcast.stats(), { sockets: 0, listeners: 0 })
  })
})
