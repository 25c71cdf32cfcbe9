import t from 'tap'
import fastifyWebsocket from '@fastify/websocket'
import WebSocket from 'ws'
import broadcast from '@scaleout/broadcast'
import { adminFor, appFor, logSink, redisFor, waitUntil } from '../helpers/index.js'
import { Client, startInstance, waitRedisSubscribers, waitSubscribed } from './helpers.js'

async function refusal (url: string): Promise<{ code: number, reason: string } | { error: string }> {
  const ws = new WebSocket(url)
  return await new Promise((resolve) => {
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }))
    ws.once('error', (err) => resolve({ error: err.message }))
  })
}

t.test('WebSocket bridge', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)

  t.test('a client that reads too slowly is dropped; the others get everything', async (t) => {
    const instance = await startInstance(t, { redis: server.url }, { maxBufferedBytes: 64 * 1024 })
    const slow = await Client.connect(instance.wsUrl, ['firehose'])
    const fast = await Client.connect(instance.wsUrl, ['firehose'])
    t.teardown(() => { slow.close(); fast.close() })
    await waitSubscribed([instance], 2)
    // Stop reading: the kernel buffers fill, then ws buffers on the server side.
    ;(slow.ws as unknown as { _socket: { pause: () => void } })._socket.pause()
    const body = 'x'.repeat(30_000)
    let lastDelivered = 2
    for (let i = 0; i < 600; i++) lastDelivered = (await instance.app.broadcast.publish('firehose', { i, body })).delivered
    t.equal(lastDelivered, 1, 'the last message went to the fast client only')
    const stats = instance.app.broadcast.stats()
    t.equal(stats.slowDropped, 1)
    t.equal(stats.sockets, 1)
    t.equal(stats.listeners, 1)
    ;(slow.ws as unknown as { _socket: { resume: () => void } })._socket.resume()
    t.equal(await slow.closed, 1006, 'terminated: no close frame could get through a full buffer')
    t.ok(slow.received.length < 600)
    await fast.waitFor(600, 30_000)
    t.same(fast.received.map((m) => (m.data as { i: number }).i), Array.from({ length: 600 }, (_, i) => i))
  })

  t.test('payload cap: an oversized message is refused with a coded error and nothing is sent', async (t) => {
    const instance = await startInstance(t, { redis: server.url, maxBytes: 1000 })
    const client = await Client.connect(instance.wsUrl, ['capped'])
    t.teardown(() => client.close())
    await waitSubscribed([instance], 1)
    await waitRedisSubscribers(admin, 'capped', 1)
    const { commands } = await server.countCommands(async () => {
      await t.rejects(instance.app.broadcast.publish('capped', 'y'.repeat(1000)), { code: 'SCALEOUT_ERR_VALUE_TOO_LARGE', statusCode: 413, message: 'Encoded value is 1002 bytes, over the limit of 1000 bytes' })
      await t.rejects(instance.app.broadcast.publish('capped', 10n), { code: 'SCALEOUT_ERR_ENCODE' })
      await t.rejects(instance.app.broadcast.publish('capped', undefined), { code: 'SCALEOUT_ERR_ENCODE' })
    })
    t.same(commands, {}, 'nothing reached Redis')
    t.equal(instance.app.broadcast.stats().published, 0)
    t.match(await instance.app.broadcast.publish('capped', 'y'.repeat(998)), { delivered: 1, remote: true })
    t.equal((await client.waitFor(1)).length, 1)
  })

  t.test('channel lists that are refused close the socket with 1008 and a reason', async (t) => {
    const sink = logSink('warn')
    const app = appFor(t, { logger: sink.logger })
    await app.register(broadcast, { redis: server.url, maxChannelsPerSocket: 2, heartbeatInterval: false })
    await app.register(fastifyWebsocket)
    app.after(() => {
      app.broadcast.websocket('/ws', { channels: (request) => String((request.query as { c: string }).c).split(',') })
      app.broadcast.websocket('/throws', { channels: async () => { throw new Error('no') } })
      app.broadcast.websocket('/few', { channels: () => ['x', 'y', 'z'], maxChannels: 3, route: { logLevel: 'warn' } })
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const base = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`
    t.same(await refusal(`${base}/ws?c=a,b,c`), { code: 1008, reason: 'SCALEOUT_ERR_BROADCAST_TOO_MANY_CHANNELS' })
    t.same(await refusal(`${base}/ws?c=a,has%20space`), { code: 1008, reason: 'SCALEOUT_ERR_BROADCAST_CHANNEL' })
    t.same(await refusal(`${base}/throws`), { code: 1008, reason: 'channels refused' })
    t.equal(sink.lines.filter((l) => l.msg === '@scaleout/broadcast: WebSocket refused its channels').length, 3)
    const few = await Client.connect(`${base}/few`, [])
    t.teardown(() => few.close())
    await waitUntil('attached', () => app.broadcast.stats().sockets === 1)
    t.equal(app.broadcast.stats().listeners, 3, 'a per-route maxChannels overrides the plugin default')
  })

  t.test('onMessage errors are logged and the socket stays open', async (t) => {
    const sink = logSink('warn')
    const app = appFor(t, { logger: sink.logger })
    await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
    await app.register(fastifyWebsocket)
    app.after(() => {
      app.broadcast.websocket('/ws', { channels: () => ['echo'], onMessage: (data) => { throw new Error(`bad ${data.toString()}`) } })
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const client = await Client.connect(`ws://127.0.0.1:${(app.server.address() as { port: number }).port}/ws`, [])
    t.teardown(() => client.close())
    client.ws.send('hello')
    await waitUntil('logged', () => sink.lines.some((l) => l.msg === '@scaleout/broadcast: onMessage failed'))
    t.equal((sink.lines.find((l) => l.msg === '@scaleout/broadcast: onMessage failed')?.err as { message: string }).message, 'bad hello')
    await waitUntil('attached', () => app.broadcast.stats().sockets === 1)
    await app.broadcast.publish('echo', 'still here')
    t.same(await client.waitFor(1), [{ channel: 'echo', data: 'still here' }])
  })

  t.test('the route helper needs @fastify/websocket and a channels function', async (t) => {
    const app = appFor(t)
    await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
    t.throws(() => app.broadcast.websocket('/ws', { channels: () => [] }), { code: 'SCALEOUT_ERR_BROADCAST_NO_WEBSOCKET' })
    await app.register(fastifyWebsocket)
    t.throws(() => app.broadcast.websocket('/ws', {} as never), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `channels` is invalid/ })
  })

  t.test('shutdown: sockets closed with 1001, upgrades refused, channels unsubscribed, connections quit', async (t) => {
    const before = (await admin.client('LIST') as string).trim().split('\n').length
    const app = appFor(t, { return503OnClosing: false })
    await app.register(broadcast, { redis: server.url, heartbeatInterval: 200 })
    const duringClose: unknown[] = []
    let base = ''
    let releaseSlow: (names: string[]) => void = () => {}
    const slowChannels = new Promise<string[]>((resolve) => { releaseSlow = resolve })
    // Runs after the plugin's preClose and before @fastify/websocket's: the server still listens.
    app.addHook('preClose', async () => {
      duringClose.push(await refusal(`${base}/ws?channels=late`))
      t.throws(() => app.broadcast.attach(clients[0]?.ws as never, ['x']), { code: 'SCALEOUT_ERR_BROADCAST_CLOSED' })
      releaseSlow(['slow'])
    })
    await app.register(fastifyWebsocket)
    app.after(() => {
      app.broadcast.websocket('/ws', { channels: (request) => String((request.query as { channels: string }).channels).split(',') })
      // Its channels() is still running when shutdown starts.
      app.broadcast.websocket('/slow', { channels: async () => await slowChannels })
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    base = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`
    const clients = await Promise.all([1, 2, 3].map(async (i) => await Client.connect(`${base}/ws`, [`s${i}`, 'shared'])))
    const pending = await Client.connect(`${base}/slow`, [])
    await waitSubscribed([{ app, wsUrl: '' }], 6)
    await waitRedisSubscribers(admin, 'shared', 1)
    t.equal((await admin.client('LIST') as string).trim().split('\n').length, before + 2)

    await app.close()
    t.same(await Promise.all(clients.map(async (c) => await c.closed)), [1001, 1001, 1001])
    t.same(clients.map((c) => c.closeReason), ['server shutting down', 'server shutting down', 'server shutting down'])
    t.same(duringClose, [{ code: 1001, reason: 'server shutting down' }], 'an upgrade during shutdown is closed at once')
    t.equal(await pending.closed, 1001, 'a socket whose channels arrive during shutdown is closed with 1001 too')
    await waitUntil('connections quit', async () => (await admin.client('LIST') as string).trim().split('\n').length === before, 5000)
    t.same(await admin.call('PUBSUB', 'CHANNELS'), [])
    t.same(app.broadcast.stats().sockets, 0)
    await t.rejects(app.broadcast.publish('shared', 1), { code: 'SCALEOUT_ERR_BROADCAST_CLOSED', statusCode: 503 })
    t.throws(() => app.broadcast.subscribe('shared', () => {}), { code: 'SCALEOUT_ERR_BROADCAST_CLOSED' })
  })

  t.test('shutdown: a client that never answers the close handshake is terminated, not waited for', async (t) => {
    const instance = await startInstance(t, { redis: server.url })
    const polite = await Client.connect(instance.wsUrl, ['bye'])
    const deaf = await Client.connect(instance.wsUrl, ['bye'])
    await waitSubscribed([instance], 2)
    const raw = (deaf.ws as unknown as { _socket: { pause: () => void, resume: () => void } })._socket
    raw.pause()
    const started = Date.now()
    await instance.app.close()
    t.equal(await polite.closed, 1001)
    t.ok(Date.now() - started < 20_000, 'close did not wait for ws\'s 30 s close timeout')
    raw.resume()
    t.equal(await deaf.closed, 1001, 'it still read the close frame from its buffer')
  })

  t.test('registered after @fastify/websocket: a warning says sockets will not get 1001', async (t) => {
    const sink = logSink('warn')
    const app = appFor(t, { logger: sink.logger })
    await app.register(fastifyWebsocket)
    await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
    await app.close()
    t.match(sink.lines.map((l) => l.msg), [/registered after @fastify\/websocket/])
  })

  t.test('attach() on a socket of your own route', async (t) => {
    const app = appFor(t)
    await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
    await app.register(fastifyWebsocket)
    let detachFirst: (() => void) | undefined
    app.after(() => {
      app.get('/own', { websocket: true }, (socket) => {
        const detach = app.broadcast.attach(socket, ['own', 'own'])
        detachFirst ??= detach
      })
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/own`
    const first = await Client.connect(url, [])
    const second = await Client.connect(url, [])
    t.teardown(() => { first.close(); second.close() })
    await waitUntil('attached', () => app.broadcast.stats().sockets === 2)
    t.equal(app.broadcast.stats().listeners, 2, 'a channel named twice is joined once')
    detachFirst?.()
    detachFirst?.()
    t.equal(app.broadcast.stats().sockets, 1)
    t.match(await app.broadcast.publish('own', 'only second'), { delivered: 1 })
    await second.waitFor(1)
    await first.roundTrip()
    t.same(first.received, [], 'the detached socket got nothing before the server answered its ping')
    t.throws(() => app.broadcast.attach(second.ws as never, 'own' as never), { code: 'SCALEOUT_ERR_BROADCAST_CHANNEL' })
    second.close()
    await waitUntil('detached on close', () => app.broadcast.stats().sockets === 0)
    t.equal(app.broadcast.stats().listeners, 0)
    const closedSocket = { readyState: 3, bufferedAmount: 0, send: () => {}, close: () => {}, terminate: () => {}, once: () => {} }
    const noop = app.broadcast.attach(closedSocket, ['own'])
    noop()
    t.equal(app.broadcast.stats().sockets, 0, 'a socket that is already closed is not attached')
    const sent: unknown[] = []
    const connecting = { ...closedSocket, readyState: 0, send: (data: Buffer) => { sent.push(data) } }
    const detach = app.broadcast.attach(connecting, ['own'])
    t.match(await app.broadcast.publish('own', 'not yet open'), { delivered: 0 })
    t.same(sent, [], 'nothing is sent to a socket that is not open')
    detach()
  })
})
