import t from 'tap'
import { Redis } from 'ioredis'
import { FreezingProxy, redisFor, sleep, waitUntil, type LogLine, type LogSink } from '../helpers/index.js'
import { PREFIX, startInstance } from './helpers.js'

// heartbeatMisses counted, not timed: a subscriber of the test's own, directly on Redis, sees every
// ping Redis accepted on the instance's own channel, and the instance's log line that forces the
// reconnect records how many it had seen by then.

t.test('heartbeatMisses: the subscriber is forced to reconnect after exactly that many pings Redis accepted but never delivered back', async (t) => {
  const server = await redisFor(t)
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const pings: string[] = []
  let pingsAtReconnect: number | undefined
  const lines: LogLine[] = []
  const log: LogSink = {
    lines,
    logger: {
      level: 'warn',
      stream: {
        write: (text: string) => {
          const line = JSON.parse(text) as LogLine
          lines.push(line)
          if (String(line.msg).endsWith('forcing the subscriber to reconnect')) pingsAtReconnect ??= pings.length
        }
      }
    },
    messages: (min = 0) => lines.filter((l) => l.level >= min).map((l) => String(l.msg))
  }
  const watched = await startInstance(t, { redis: proxy.url, heartbeatInterval: 300, heartbeatMisses: 3 }, { log })
  const home = `${PREFIX}hb:${watched.app.broadcast.instanceId}`
  const spy = new Redis(server.port, server.host)
  t.teardown(() => spy.disconnect())
  spy.on('message', (channel: string, message: string) => { if (channel === home) pings.push(message) })
  await spy.subscribe(home)

  await waitUntil('the heartbeat running', () => pings.length >= 2, 10_000, 5)
  // Frozen between two beats, once the last ping has long come back to the instance too.
  const heard = pings.length
  await waitUntil('the next ping', () => pings.length > heard, 10_000, 5)
  await sleep(50)
  t.equal(proxy.freezeSubscribers(), 1, 'the instance\'s subscriber link')
  const frozenAt = pings.length

  await waitUntil('the forced reconnect', () => watched.app.broadcast.stats().forcedReconnects === 1, 15_000, 5)
  t.equal((pingsAtReconnect ?? 0) - frozenAt, 3, 'three pings accepted by Redis, none heard back, then the reconnect')
  t.same(log.messages(40), [`@scaleout/broadcast: heard nothing on ${home} although Redis accepted our pings; forcing the subscriber to reconnect`])

  // On the new link every ping is heard: more beats than heartbeatMisses go by with no other reconnect.
  await waitUntil('four more pings', () => pings.length >= (pingsAtReconnect ?? 0) + 4, 10_000, 5)
  t.equal(watched.app.broadcast.stats().forcedReconnects, 1)
  t.equal(log.messages(40).length, 1)
})
