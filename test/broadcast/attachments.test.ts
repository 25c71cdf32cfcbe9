import t, { type Test } from 'tap'
import fastifyWebsocket from '@fastify/websocket'
import type { FastifyInstance } from 'fastify'
import type WebSocket from 'ws'
import broadcast from '@scaleout/broadcast'
import { adminFor, appFor, logSink, redisFor, waitUntil, type LogSink } from '../helpers/index.js'
import { Client, PREFIX, waitRedisSubscribers } from './helpers.js'

// What an app does with attach() on its own route (one attach per room, leaving rooms early), with
// channels() that throw odd things, and what a forger can PUBLISH: none of it may crash the
// process, leak listeners, or get past the plugin's bounds.

/** An app whose /rooms/a,b route attaches each socket once per room; `leave` detaches one. */
async function roomsApp (t: Test, redis: string, sink?: LogSink, options: Record<string, unknown> = {}): Promise<{ app: FastifyInstance, url: string, leave: Map<string, () => void>, sockets: WebSocket[] }> {
  const app = appFor(t, { logger: sink === undefined ? false : sink.logger })
  await app.register(broadcast, { redis, heartbeatInterval: false, ...options })
  await app.register(fastifyWebsocket)
  const leave = new Map<string, () => void>()
  const sockets: WebSocket[] = []
  app.after(() => {
    app.get('/rooms/:rooms', { websocket: true }, (socket, request) => {
      sockets.push(socket)
      for (const room of (request.params as { rooms: string }).rooms.split(',')) leave.set(room, app.broadcast.attach(socket, ['room:' + room], { maxBufferedBytes: 64 * 1024 }))
    })
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, url: `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/rooms`, leave, sockets }
}

const closeListeners = (socket: WebSocket): number => socket.listenerCount('close')

t.test('attachments', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)

  t.test('a socket attached once per room: leaving one room keeps the other, and leaves no listener behind', async (t) => {
    const { app, url, leave, sockets } = await roomsApp(t, server.url)
    const client = await Client.connect(url + '/a,b', [])
    t.teardown(() => client.close())
    await waitUntil('attached twice', () => app.broadcast.stats().listeners === 2)
    t.same(app.broadcast.stats().sockets, 1, 'one socket')
    const socket = sockets[0] as WebSocket
    const listening = closeListeners(socket)
    ;(leave.get('b') as () => void)()
    t.equal(app.broadcast.stats().sockets, 1, 'still attached to room a')
    t.equal(app.broadcast.stats().listeners, 1)
    t.equal(closeListeners(socket), listening, 'one close listener per socket, kept while it is attached')
    t.match(await app.broadcast.publish('room:a', 'to a'), { delivered: 1 })
    t.match(await app.broadcast.publish('room:b', 'to b'), { delivered: 0 })
    await client.waitFor(1)
    t.same(client.received, [{ channel: 'room:a', data: 'to a' }])
    // Joining and leaving a room again and again grows nothing.
    for (let i = 0; i < 50; i++) app.broadcast.attach(socket, ['room:c'])()
    t.equal(closeListeners(socket), listening)
    t.same({ sockets: app.broadcast.stats().sockets, listeners: app.broadcast.stats().listeners }, { sockets: 1, listeners: 1 })
    ;(leave.get('a') as () => void)()
    t.same({ sockets: app.broadcast.stats().sockets, listeners: app.broadcast.stats().listeners }, { sockets: 0, listeners: 0 })
    // Two: the membership's, and the ping sweep's (attach() pings the socket, see attached-socket-ping.test.ts).
    t.equal(closeListeners(socket), listening - 2, 'the last detach took the close listeners back')
    // Attached again after that, it is detached on close as before.
    app.broadcast.attach(socket, ['room:a'])
    t.equal(closeListeners(socket), listening)
    client.close()
    await waitUntil('detached on close', () => app.broadcast.stats().sockets === 0)
    t.equal(app.broadcast.stats().listeners, 0)
  })

  // Once checked per attach() call: attached once per room, one socket joined 50 channels with a
  // limit of 3, and each attachment added a 'close' listener (MaxListenersExceededWarning past 10).
  t.test('maxChannelsPerSocket bounds a socket attached once per room, not each attach() call', async (t) => {
    const { app, url, leave, sockets } = await roomsApp(t, server.url, undefined, { maxChannelsPerSocket: 3 })
    const client = await Client.connect(url + '/a,b,c', [])
    t.teardown(() => client.close())
    await waitUntil('three rooms joined', () => app.broadcast.stats().listeners === 3)
    const socket = sockets[0] as WebSocket
    const listening = closeListeners(socket)
    const warnings: Error[] = []
    const onWarning = (w: Error): void => { warnings.push(w) }
    process.on('warning', onWarning)
    t.teardown(() => { process.off('warning', onWarning) })
    const refused: string[] = []
    for (let i = 0; i < 50; i++) {
      try {
        app.broadcast.attach(socket, [`room:d${i}`])
      } catch (err) {
        refused.push(`${(err as { code: string }).code}: ${(err as Error).message}`)
      }
    }
    t.same(refused, Array(50).fill('SCALEOUT_ERR_BROADCAST_TOO_MANY_CHANNELS: A socket may join at most 3 channels (asked for 4)'), 'every room past the third refused')
    t.throws(() => app.broadcast.attach(socket, ['room:a', 'room:d', 'room:e'], { maxChannels: 4 }), { message: 'A socket may join at most 4 channels (asked for 5)' }, 'counted over the union, with the call\'s own maxChannels')
    t.same({ channels: app.broadcast.stats().channels, listeners: app.broadcast.stats().listeners, sockets: app.broadcast.stats().sockets }, { channels: 4, listeners: 3, sockets: 1 }, 'a refused attach changes nothing')
    t.equal(closeListeners(socket), listening, 'one close listener for the socket')
    // A room it is in already adds nothing to the count; a room left frees its place. (Three live
    // attachments at most, as maxChannels bounds those too: see repeated-attach.test.ts.)
    ;(leave.get('c') as () => void)()
    app.broadcast.attach(socket, ['room:a', 'room:b', 'room:d'])
    t.same({ channels: app.broadcast.stats().channels, listeners: app.broadcast.stats().listeners }, { channels: 4, listeners: 3 })
    t.equal(closeListeners(socket), listening, 'still one close listener after four attachments')
    await new Promise((resolve) => setImmediate(resolve))
    t.same(warnings.map((w) => w.name), [])
    t.equal(client.closeCode, undefined)
  })

  // Once two listeners: a double join (or joins re-sent after a reconnect) sent every message
  // twice to the same client, and publish() counted it twice.
  t.test('a socket attached twice to one channel gets each message once; detaching one attachment keeps the other', async (t) => {
    const { app, url, leave, sockets } = await roomsApp(t, server.url)
    const client = await Client.connect(url + '/lobby', [])
    t.teardown(() => client.close())
    await waitUntil('in the lobby', () => app.broadcast.stats().listeners === 1)
    const again = app.broadcast.attach(sockets[0] as WebSocket, ['room:lobby'])
    t.same({ listeners: app.broadcast.stats().listeners, sockets: app.broadcast.stats().sockets }, { listeners: 1, sockets: 1 })
    t.match(await app.broadcast.publish('room:lobby', 'one'), { delivered: 1 })
    again()
    t.match(await app.broadcast.publish('room:lobby', 'two'), { delivered: 1 }, 'the first attachment still holds the lobby')
    again()
    t.match(await app.broadcast.publish('room:lobby', 'three'), { delivered: 1 }, 'a detach runs once')
    ;(leave.get('lobby') as () => void)()
    t.match(await app.broadcast.publish('room:lobby', 'four'), { delivered: 0 }, 'left with its last attachment')
    t.same(app.broadcast.stats().sockets, 0)
    await client.waitFor(3)
    await client.roundTrip()
    t.same(client.received, [
      { channel: 'room:lobby', data: 'one' },
      { channel: 'room:lobby', data: 'two' },
      { channel: 'room:lobby', data: 'three' }
    ])
  })

  t.test('a socket without removeListener that closes after its last detach changes nothing', async (t) => {
    const app = appFor(t)
    await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
    await app.ready()
    const closers: Array<() => void> = []
    const socket = { readyState: 1, bufferedAmount: 0, send: () => {}, close: () => {}, terminate: () => {}, once: (_event: 'close', listener: () => void) => { closers.push(listener) } }
    app.broadcast.attach(socket, ['a'])()
    const detach = app.broadcast.attach(socket, ['b'])
    t.equal(closers.length, 2, 'a socket that cannot take a listener back gets one per membership')
    ;(closers[0] as () => void)()
    t.same({ listeners: app.broadcast.stats().listeners, sockets: app.broadcast.stats().sockets }, { listeners: 0, sockets: 0 }, 'the close detached the socket')
    ;(closers[1] as () => void)()
    detach()
    t.same({ listeners: app.broadcast.stats().listeners, sockets: app.broadcast.stats().sockets }, { listeners: 0, sockets: 0 })
  })

  t.test('a slow socket attached twice is dropped whole, from a message of another instance too', async (t) => {
    const sink = logSink('warn')
    const { app, url } = await roomsApp(t, server.url, sink)
    const client = await Client.connect(url + '/a,b', [])
    t.teardown(() => client.close())
    await waitUntil('attached twice', () => app.broadcast.stats().listeners === 2)
    await waitRedisSubscribers(admin, 'room:a', 1)
    ;(client.ws as unknown as { _socket: { pause: () => void } })._socket.pause()
    const body = 'x'.repeat(30_000)
    const crashes: unknown[] = []
    const onCrash = (err: unknown): void => { crashes.push(err) }
    process.on('uncaughtException', onCrash)
    t.teardown(() => { process.off('uncaughtException', onCrash) })
    // Published by "another instance": the envelope a publish() sends, straight to Redis.
    for (let i = 0; i < 300; i++) {
      await admin.publish(PREFIX + 'c:room:a', `{"v":1,"id":"00000000-0000-4000-8000-${String(i).padStart(12, '0')}","o":"other:1","t":1,"d":${JSON.stringify(body)}}`)
    }
    // Once dropped, the socket's channels are left in Redis too: the later messages arrive nowhere.
    await waitUntil('dropped', () => app.broadcast.stats().slowDropped === 1)
    t.same({ sockets: app.broadcast.stats().sockets, listeners: app.broadcast.stats().listeners }, { sockets: 0, listeners: 0 }, 'both attachments went')
    t.match(await app.broadcast.publish('room:b', 'after'), { delivered: 0, remote: true })
    t.same(crashes, [])
    t.same(sink.messages(40), ['@scaleout/broadcast: dropped a WebSocket client that reads too slowly'])
  })

  t.test('shutdown closes a socket attached twice with 1001', async (t) => {
    const { app, url } = await roomsApp(t, server.url)
    const client = await Client.connect(url + '/a,b', [])
    await waitUntil('attached twice', () => app.broadcast.stats().listeners === 2)
    await app.close()
    t.equal(await client.closed, 1001)
    t.equal(client.closeReason, 'server shutting down')
  })

  t.test('attach() and websocket() check maxBufferedBytes and maxChannels as the plugin options are checked', async (t) => {
    const app = appFor(t)
    await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
    await app.register(fastifyWebsocket)
    const socket = { readyState: 1, bufferedAmount: 0, send: () => {}, close: () => {}, terminate: () => {}, once: () => {} }
    t.throws(() => app.broadcast.attach(socket, ['a'], { maxBufferedBytes: Number.NaN }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/broadcast: option `maxBufferedBytes` is invalid: expected an integer from 1 to 9007199254740991' })
    t.throws(() => app.broadcast.attach(socket, ['a'], { maxChannels: 0 }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/broadcast: option `maxChannels` is invalid: expected an integer from 1 to 100000' })
    t.throws(() => app.broadcast.attach(socket, ['a'], null as never), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/broadcast: option `attach options` is invalid: expected an object' })
    t.equal(app.broadcast.stats().sockets, 0, 'nothing attached')
    t.throws(() => app.broadcast.websocket('/ws', { channels: () => ['a'], maxChannels: Number.NaN }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `maxChannels` is invalid/ }, 'at startup, before any socket')
  })

  t.test('a channels() error of any shape closes the socket with 1008, and nothing crashes', async (t) => {
    const sink = logSink('warn')
    const app = appFor(t, { logger: sink.logger })
    await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
    await app.register(fastifyWebsocket)
    const thrown: Record<string, unknown> = {
      long: Object.assign(new Error('long'), { code: 'E'.repeat(124) }),
      fits: Object.assign(new Error('fits'), { code: 'E'.repeat(123) }),
      number: Object.assign(new Error('number'), { code: 42 }),
      null: null,
      string: 'refused'
    }
    app.after(() => {
      app.broadcast.websocket('/ws/:kind', { channels: (request) => { throw thrown[(request.params as { kind: string }).kind] } })
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const base = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/ws`
    const rejections: unknown[] = []
    const onRejection = (err: unknown): void => { rejections.push(err) }
    process.on('unhandledRejection', onRejection)
    t.teardown(() => { process.off('unhandledRejection', onRejection) })
    const closes: Record<string, [number, string]> = {}
    for (const kind of Object.keys(thrown)) {
      const client = await Client.connect(`${base}/${kind}`, [])
      closes[kind] = [await client.closed, client.closeReason]
    }
    t.same(closes, {
      long: [1008, 'channels refused'],
      fits: [1008, 'E'.repeat(123)],
      number: [1008, 'channels refused'],
      null: [1008, 'channels refused'],
      string: [1008, 'channels refused']
    })
    t.same(rejections, [])
    t.equal(sink.messages(40).filter((m) => m === '@scaleout/broadcast: WebSocket refused its channels').length, 5)
  })

  t.test('a message from Redis over maxBytes is dropped, counted and logged, not delivered', async (t) => {
    // The plugin's clock stands still: within a minute of the first, such warnings are held back.
    t.capture(performance, 'now', () => 0)
    const sink = logSink('warn')
    const app = appFor(t, { logger: sink.logger })
    await app.register(broadcast, { redis: server.url, heartbeatInterval: false, maxBytes: 1024 })
    const handled: unknown[] = []
    app.broadcast.subscribe('capped', (message) => { handled.push(message) })
    await app.ready()
    await waitRedisSubscribers(admin, 'capped', 1)
    const envelope = (n: number, body: string): string => `{"v":1,"id":"00000000-0000-4000-8000-00000000000${n}","o":"other:1","t":1,"d":${body}}`
    await admin.publish(PREFIX + 'c:capped', envelope(1, JSON.stringify('x'.repeat(20 * 1024 * 1024))))
    // 1,024 bytes in 342 characters: the byte count decides, not the length.
    await admin.publish(PREFIX + 'c:capped', envelope(2, JSON.stringify('é'.repeat(512))))
    await admin.publish(PREFIX + 'c:capped', envelope(3, JSON.stringify('€'.repeat(340))))
    await admin.publish(PREFIX + 'c:capped', envelope(4, JSON.stringify('€'.repeat(341))))
    await waitUntil('four handled or refused', () => app.broadcast.stats().rejected + app.broadcast.stats().received === 4)
    t.same(handled, ['€'.repeat(340)], 'only the body of at most 1,024 bytes (1,022 + its quotes) arrived')
    t.equal(app.broadcast.stats().rejected, 3)
    t.same(sink.messages(40), ['@scaleout/broadcast: dropped a message that is not a valid envelope'], 'the two after the first held back (see forged-message-log-flood.test.ts)')
  })
})
