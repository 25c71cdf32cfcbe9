import t from 'tap'
import { Redis } from 'ioredis'
import broadcast from '@scaleout/broadcast'
import { adminFor, appFor, redisFor, waitUntil } from '../helpers/index.js'
import { PREFIX } from './helpers.js'

// An instance drops its own messages coming back from Redis by their origin, and never put their
// ids in its de-duplication window. A copy of one of its messages re-published with another origin
// (a replay by anyone who can PUBLISH, or the same envelope reaching Redis twice through a relay)
// was therefore delivered a second time on the instance that published it, and only there.

t.test('a replay of an instance\'s own message under another origin is a duplicate there too', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const app = appFor(t)
  await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
  await app.ready()
  const seen: unknown[] = []
  app.broadcast.subscribe('room', (message) => { seen.push(message) })

  // A listener of the test's own records the envelope as Redis carries it.
  const listener = new Redis(server.port, server.host)
  t.teardown(() => listener.disconnect())
  const wire: string[] = []
  listener.on('message', (_channel: string, text: string) => wire.push(text))
  await listener.subscribe(PREFIX + 'c:room')
  await waitUntil('the instance subscribed', async () => (await admin.call('PUBSUB', 'NUMSUB', PREFIX + 'c:room') as [string, number])[1] === 2)

  await app.broadcast.publish('room', 'hello')
  await waitUntil('the envelope on the wire', () => wire.length === 1 && app.broadcast.stats().echoes === 1)
  const replay = (wire[0] as string).replace(`"o":"${app.broadcast.instanceId}"`, '"o":"elsewhere:1:abcdef01"')
  t.not(replay, wire[0], 'the origin was replaced')
  await admin.publish(PREFIX + 'c:room', replay)
  await waitUntil('the replay read', () => app.broadcast.stats().duplicates + app.broadcast.stats().received === 1)
  t.same(seen, ['hello'], 'delivered once')
  t.match(app.broadcast.stats(), { duplicates: 1, received: 0 })
})
