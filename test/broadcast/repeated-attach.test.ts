import t from 'tap'
import fastifyWebsocket from '@fastify/websocket'
import type { FastifyInstance } from 'fastify'
import broadcast, { TooManyAttachmentsError, type BroadcastSocket } from '@scaleout/broadcast'
import { appFor, redisFor, waitUntil } from '../helpers/index.js'
import WebSocket from 'ws'

// Once unbounded: an app that attached a socket on every "join" its client sent, without
// detaching, added a detach and a hold on the channel per join, so one client could grow the
// server's memory for as long as it kept sending "join". A socket's live attachments are now
// bounded by the same maxChannels that bounds its channels.

interface FakeSocket extends BroadcastSocket {
  sent: string[]
  closers: Array<() => void>
  bufferedAmount: number
}

function fakeSocket (): FakeSocket {
  const socket: FakeSocket = {
    readyState: 1,
    bufferedAmount: 0,
    sent: [],
    closers: [],
    send: (data) => { socket.sent.push(data.toString()) },
    close: () => {},
    terminate: () => {},
    once: (_event, listener) => { socket.closers.push(listener) },
    removeListener: (_event, listener) => { socket.closers.splice(socket.closers.indexOf(listener), 1) }
  }
  return socket
}

const counts = (app: FastifyInstance): { channels: number, listeners: number, sockets: number } => {
  const { channels, listeners, sockets } = app.broadcast.stats()
  return { channels, listeners, sockets }
}

const refusal = (fn: () => unknown): string => {
  try {
    fn()
    return 'attached'
  } catch (err) {
    return `${(err as { code: string }).code}: ${(err as Error).message}`
  }
}

t.test('repeated attach of one socket to one channel', async (t) => {
  const server = await redisFor(t)

  async function appWith (maxChannelsPerSocket: number): Promise<FastifyInstance> {
    const app = appFor(t)
    await app.register(broadcast, { redis: server.url, heartbeatInterval: false, maxChannelsPerSocket })
    await app.ready()
    return app
  }

  t.test('past maxChannels live attachments, attach() is refused with SCALEOUT_ERR_BROADCAST_TOO_MANY_ATTACHMENTS and changes nothing', async (t) => {
    const app = await appWith(3)
    const socket = fakeSocket()
    const detaches = [1, 2, 3].map(() => app.broadcast.attach(socket, ['room']))
    const refused: string[] = []
    for (let i = 0; i < 1000; i++) refused.push(refusal(() => app.broadcast.attach(socket, ['room'], { maxBufferedBytes: 1 })))
    t.same(refused, Array(1000).fill('SCALEOUT_ERR_BROADCAST_TOO_MANY_ATTACHMENTS: A socket may have at most 3 attachments at once (asked for 4): detach one before attaching it again'))
    t.throws(() => app.broadcast.attach(socket, []), TooManyAttachmentsError, 'an attachment without channels counts too')
    t.same(counts(app), { channels: 2, listeners: 1, sockets: 1 })
    t.equal(socket.closers.length, 1, 'one close listener')
    // A refused attach did not lower the socket's buffer limit: with 100 bytes buffered it still gets messages.
    socket.bufferedAmount = 100
    t.match(await app.broadcast.publish('room', 'one'), { delivered: 1 })
    t.equal(app.broadcast.stats().slowDropped, 0)
    // Nor did it hold the channel once more: the three attachments that were made are all it takes to leave.
    ;(detaches[0] as () => void)()
    ;(detaches[1] as () => void)()
    t.match(await app.broadcast.publish('room', 'two'), { delivered: 1 }, 'left with its last attachment, not before')
    ;(detaches[2] as () => void)()
    t.match(await app.broadcast.publish('room', 'three'), { delivered: 0 })
    t.same(counts(app), { channels: 1, listeners: 0, sockets: 0 })
    t.same(socket.closers, [], 'the close listener went with the last attachment')
    t.same(socket.sent, ['{"channel":"room","data":"one"}', '{"channel":"room","data":"two"}'])
  })

  t.test('a detached attachment frees its place; each attachment keeps its own detach', async (t) => {
    const app = await appWith(2)
    const socket = fakeSocket()
    const first = app.broadcast.attach(socket, ['room'])
    const second = app.broadcast.attach(socket, ['room'])
    t.throws(() => app.broadcast.attach(socket, ['room']), { code: 'SCALEOUT_ERR_BROADCAST_TOO_MANY_ATTACHMENTS' })
    first()
    first()
    const third = app.broadcast.attach(socket, ['room'])
    t.throws(() => app.broadcast.attach(socket, ['room']), { message: 'A socket may have at most 2 attachments at once (asked for 3): detach one before attaching it again' }, 'a detach runs once: it freed one place')
    second()
    t.match(await app.broadcast.publish('room', 'held by the third'), { delivered: 1 })
    third()
    t.match(await app.broadcast.publish('room', 'left'), { delivered: 0 })
    t.same(counts(app), { channels: 1, listeners: 0, sockets: 0 })
  })

  t.test('the call\'s own maxChannels bounds its attachments, as it bounds its channels', async (t) => {
    const app = await appWith(1)
    const socket = fakeSocket()
    app.broadcast.attach(socket, ['room'])
    t.throws(() => app.broadcast.attach(socket, ['room']), { message: 'A socket may have at most 1 attachments at once (asked for 2): detach one before attaching it again' })
    for (let i = 0; i < 4; i++) app.broadcast.attach(socket, ['room'], { maxChannels: 5 })
    t.throws(() => app.broadcast.attach(socket, ['room'], { maxChannels: 5 }), { message: 'A socket may have at most 5 attachments at once (asked for 6): detach one before attaching it again' })
    // Too many channels is refused as such, before the attachments are counted.
    t.throws(() => app.broadcast.attach(socket, ['room', 'other']), { code: 'SCALEOUT_ERR_BROADCAST_TOO_MANY_CHANNELS', message: 'A socket may join at most 1 channels (asked for 2)' })
    t.same(counts(app), { channels: 2, listeners: 1, sockets: 1 })
  })

  t.test('a client that sends "join" again and again to a route attaching on each gets an error past the limit, and the server holds no more', async (t) => {
    const app = appFor(t)
    await app.register(broadcast, { redis: server.url, heartbeatInterval: false, maxChannelsPerSocket: 3 })
    await app.register(fastifyWebsocket)
    app.after(() => {
      app.get('/chat', { websocket: true }, (socket) => {
        socket.on('message', (data: Buffer) => {
          try {
            app.broadcast.attach(socket, [data.toString()])
            socket.send('joined')
          } catch (err) {
            socket.send((err as { code: string }).code)
          }
        })
      })
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const client = new WebSocket(`ws://127.0.0.1:${(app.server.address() as { port: number }).port}/chat`)
    t.teardown(() => client.terminate())
    const answers: string[] = []
    client.on('message', (data: Buffer) => answers.push(data.toString()))
    await new Promise((resolve) => client.once('open', resolve))
    for (let i = 0; i < 10; i++) client.send('lobby')
    await waitUntil('ten answers', () => answers.length === 10)
    t.same(answers, [...Array(3).fill('joined'), ...Array(7).fill('SCALEOUT_ERR_BROADCAST_TOO_MANY_ATTACHMENTS')])
    t.same(counts(app), { channels: 2, listeners: 1, sockets: 1 })
    client.terminate()
    await waitUntil('detached on close', () => app.broadcast.stats().sockets === 0)
    t.same(counts(app), { channels: 1, listeners: 0, sockets: 0 }, 'one close detached all three attachments')
  })
})
