import t from 'tap'
import broadcast from '@scaleout/broadcast'
import { appFor, redisFor } from '../helpers/index.js'

// A list naming one channel twice (a join list a client sent twice, `?channels=a,a`) was refused as
// too many channels when its length passed maxChannels, although the socket would be in one
// channel: a channel it is in already does not count again, and a repeat within one call is such a
// channel too.
t.test('a channel named twice in one attach counts once against maxChannels', async (t) => {
  const server = await redisFor(t)
  const app = appFor(t)
  await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
  const sent: unknown[] = []
  const socket = { readyState: 1, bufferedAmount: 0, send: (frame: unknown) => { sent.push(String(frame)) }, close: () => {}, terminate: () => {}, once: () => {}, removeListener: () => {} }

  const detach = app.broadcast.attach(socket, ['a', 'a', 'b', 'a'], { maxChannels: 2 })
  t.equal(app.broadcast.stats().listeners, 2, 'in a and b')
  t.equal((await app.broadcast.publish('a', 1)).delivered, 1)
  t.same(sent, ['{"channel":"a","data":1}'], 'once')
  // Still bounded by the distinct names: a third one is refused, and changes nothing.
  t.throws(() => app.broadcast.attach(socket, ['a', 'c', 'c', 'b', 'd'], { maxChannels: 3 }), { code: 'SCALEOUT_ERR_BROADCAST_TOO_MANY_CHANNELS', message: 'A socket may join at most 3 channels (asked for 4)' })
  t.throws(() => app.broadcast.attach({ ...socket }, ['x', 'y', 'y', 'z'], { maxChannels: 2 }), { code: 'SCALEOUT_ERR_BROADCAST_TOO_MANY_CHANNELS', message: 'A socket may join at most 2 channels (asked for 3)' })
  t.equal(app.broadcast.stats().listeners, 2)
  detach()
  t.equal(app.broadcast.stats().listeners, 0)
})
