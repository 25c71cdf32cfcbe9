import t from 'tap'
import broadcast, { type BroadcastSocket } from '@scaleout/broadcast'
import { appFor, logSink, redisFor, waitUntil } from '../helpers/index.js'

// attach() takes any socket with ws's shape, and an app's own socket may throw from send(). The
// throw used to stop the message on its way to the listeners after it and reject publish() (which
// rejects only for bad input), and a message from another instance that reached such a socket threw
// out of the subscriber's message event: an uncaught exception, the process down.

/** A socket of the app's own whose send throws; records whether it was terminated. */
function throwingSocket (terminateThrows: boolean): BroadcastSocket & { terminated: number } {
  return {
    readyState: 1,
    bufferedAmount: 0,
    terminated: 0,
    send () { throw new Error('send failed') },
    close () {},
    terminate () {
      this.terminated++
      if (terminateThrows) throw new Error('terminate failed')
    },
    once: () => undefined
  }
}

t.test('an attached socket whose send throws is dropped, and the message reaches the others', async (t) => {
  const server = await redisFor(t)
  const sink = logSink('warn')
  const here = appFor(t, { logger: sink.logger })
  await here.register(broadcast, { redis: server.url, heartbeatInterval: false })
  const there = appFor(t)
  await there.register(broadcast, { redis: server.url, heartbeatInterval: false })
  await Promise.all([here.ready(), there.ready()])

  const got: unknown[] = []
  const first = throwingSocket(false)
  here.broadcast.attach(first, ['room'])
  here.broadcast.subscribe('room', (message) => { got.push(message) })
  const second = throwingSocket(true)
  here.broadcast.attach(second, ['room'])
  t.equal(here.broadcast.stats().sockets, 2)

  const result = await here.broadcast.publish('room', 'local')
  t.match(result, { delivered: 1, remote: true, error: null }, 'publish resolves; only the handler counts as reached')
  t.same(got, ['local'], 'the handler after the throwing socket got it')
  t.same([first.terminated, second.terminated], [1, 1], 'both sockets terminated, the second despite its terminate throwing')
  t.equal(here.broadcast.stats().sockets, 0, 'both detached')
  t.same(sink.lines.filter((l) => l.msg === '@scaleout/broadcast: dropped a WebSocket client whose send threw').map((l) => (l.err as { message: string }).message), ['send failed', 'send failed'])

  // From another instance: the same socket kind on the receiving side must not crash it.
  const third = throwingSocket(false)
  here.broadcast.attach(third, ['room'])
  t.match(await there.broadcast.publish('room', 'remote'), { remote: true, receivers: 1 }, 'this instance is the one subscriber')
  await waitUntil('the remote message reached the handler', () => got.length === 2)
  t.same(got, ['local', 'remote'])
  t.equal(third.terminated, 1)
  t.equal(here.broadcast.stats().sockets, 0)
})
