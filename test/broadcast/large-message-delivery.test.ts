import t from 'tap'
import broadcast from '@scaleout/broadcast'
import { adminFor, appFor, redisFor, waitUntil } from '../helpers/index.js'
import { waitRedisSubscribers } from './helpers.js'

// maxBytes once went up to 64 MiB: a message past Redis's stock pub/sub output-buffer limit (32 MB
// hard, 8 MB for 60 s) was reported accepted, reached no instance, and Redis disconnected every
// subscriber it was sent to. maxBytes now stops at 4 MiB: the largest message still arrives, and
// no subscriber is disconnected for it, under the stock limits.

const MAX = 4 * 1024 * 1024

t.test('a message of the largest maxBytes reaches another instance under Redis\'s stock pub/sub limits', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const limit = await admin.config('GET', 'client-output-buffer-limit') as string[]
  t.match(limit[1], /pubsub 33554432 8388608 60/, 'the stock Redis default')

  const a = appFor(t)
  await a.register(broadcast, { redis: server.url, heartbeatInterval: false, maxBytes: MAX, timeout: '30s' })
  const b = appFor(t)
  await b.register(broadcast, { redis: server.url, heartbeatInterval: false, maxBytes: MAX })
  await a.ready()
  await b.ready()
  const seen: number[] = []
  b.broadcast.subscribe('big', (message) => { seen.push(typeof message === 'string' ? message.length : -1) })
  await waitRedisSubscribers(admin, 'big', 1)
  const pubsubIds = async (): Promise<string[]> => [...String(await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub')).matchAll(/id=(\d+)/g)].map((m) => m[1] as string).sort()
  const before = await pubsubIds()
  t.equal(before.length, 2, 'two subscriber connections (A and B)')

  const body = 'x'.repeat(MAX - 2) // its JSON, quotes included, is exactly maxBytes
  const result = await a.broadcast.publish('big', body)
  t.match(result, { remote: true, receivers: 1 })
  await waitUntil('B received the message', () => seen.length === 1, 10_000)
  t.same(seen, [MAX - 2])
  t.same(await pubsubIds(), before, 'no subscriber was disconnected')
  t.equal(b.broadcast.stats().received, 1)
})
