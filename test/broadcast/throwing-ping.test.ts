import t from 'tap'
import broadcast, { type BroadcastSocket } from '@scaleout/broadcast'
import { appFor, logSink, redisFor, waitUntil } from '../helpers/index.js'

// attach() pings any socket with ws's shape (ping, on, removeListener), and a socket of the app's
// own may throw from ping() as it may from send(). The ping runs in the sweep's timer: the throw
// escaped from it as an uncaught exception, the process down, and the sockets after it in the sweep
// were not pinged. Such a socket is now dropped as one whose send throws is: detached, terminated,
// logged; the others are pinged as usual.

interface FakeSocket extends BroadcastSocket {
  terminated: number
  pings: number
  ping: () => void
  on: (event: string, listener: () => void) => unknown
  removeListener: (event: string, listener: () => void) => unknown
}

function socket (pingThrows: boolean): FakeSocket {
  const listeners = new Map<string, Set<() => void>>()
  return {
    readyState: 1,
    bufferedAmount: 0,
    terminated: 0,
    pings: 0,
    send () {},
    close () {},
    terminate () { this.terminated++ },
    ping () {
      this.pings++
      if (pingThrows) throw new Error('ping failed')
      // Answers as a ws client does.
      queueMicrotask(() => { for (const listener of listeners.get('pong') ?? []) listener.call(this) })
    },
    on (event, listener) {
      if (!listeners.has(event)) listeners.set(event, new Set())
      listeners.get(event)?.add(listener)
    },
    once (event, listener) { this.on(event, listener) },
    removeListener (event, listener) { listeners.get(event)?.delete(listener) }
  }
}

t.test('an attached socket whose ping throws is dropped and logged; the process stays up and the others are pinged', async (t) => {
  const server = await redisFor(t)
  const sink = logSink('warn')
  const app = appFor(t, { logger: sink.logger })
  await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
  await app.ready()

  const throwing = socket(true)
  const fine = socket(false)
  app.broadcast.attach(throwing, ['room'], { pingInterval: 20 })
  app.broadcast.attach(fine, ['room'], { pingInterval: 20 })
  t.equal(app.broadcast.stats().sockets, 2)

  await waitUntil('the throwing socket dropped', () => throwing.terminated === 1)
  t.equal(throwing.pings, 1)
  t.equal(app.broadcast.stats().sockets, 1, 'detached')
  t.same(sink.lines.filter((l) => l.msg === '@scaleout/broadcast: dropped a WebSocket client whose ping threw').map((l) => (l.err as { message: string }).message), ['ping failed'])
  t.equal(app.broadcast.stats().unresponsiveDropped, 0, 'not counted as unresponsive: it never got the ping')
  await waitUntil('the other socket pinged, and answering', () => fine.pings >= 3)
  t.equal(fine.terminated, 0)
  t.equal(app.broadcast.stats().sockets, 1)
  t.match(await app.broadcast.publish('room', 'still here'), { delivered: 1 })
})
