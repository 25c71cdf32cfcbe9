import t from 'tap'
import broadcast from '@scaleout/broadcast'
import { adminFor, appFor, frozenClock, logSink, redisFor, waitUntil, type LogSink } from '../helpers/index.js'
import { PREFIX, waitRedisSubscribers } from './helpers.js'

// Once one warning per message: anyone who can PUBLISH on a broadcast channel could flood every
// instance's log with junk ("dropped a message that is not a valid envelope" a thousand times a
// second). Now the first is logged, then at most one a minute with the number held back since;
// stats().rejected still counts each.

const BASE = '@scaleout/broadcast: dropped a message that is not a valid envelope'

const warnings = (sink: LogSink): Array<{ msg: unknown, channel: unknown, suppressed: unknown }> =>
  sink.lines.filter((l) => l.level === 40).map((l) => ({ msg: l.msg, channel: l.channel, suppressed: l.suppressed }))

t.test('junk published on a broadcast channel', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)

  t.test('is logged once, then at most once a minute with the count held back since, and each is counted in stats().rejected', async (t) => {
    const clock = frozenClock(t)
    const sink = logSink('warn')
    const app = appFor(t, { logger: sink.logger })
    await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
    const handled: unknown[] = []
    app.broadcast.subscribe('news', (message) => { handled.push(message) })
    await app.ready()
    await waitRedisSubscribers(admin, 'news', 1)
    const channel = PREFIX + 'c:news'
    const junk = async (count: number, on = channel): Promise<void> => {
      const before = app.broadcast.stats().rejected
      const pipeline = admin.pipeline()
      for (let i = 0; i < count; i++) pipeline.publish(on, `junk ${i}`)
      await pipeline.exec()
      await waitUntil(`${count} more rejected`, () => app.broadcast.stats().rejected === before + count)
    }

    await junk(1000)
    t.same(warnings(sink), [{ msg: BASE, channel, suppressed: 0 }], 'a thousand junk messages, one warning')
    clock.advance(59_999)
    await junk(1)
    t.equal(warnings(sink).length, 1, 'held back until a minute has passed')
    clock.advance(1)
    await junk(1)
    t.same(warnings(sink)[1], { msg: `${BASE}, and 1000 more since the last such warning`, channel, suppressed: 1000 })
    // Anything but a ping on the instance's own channel is held back with the others.
    await junk(1, PREFIX + 'hb:' + app.broadcast.instanceId)
    await junk(2)
    t.equal(warnings(sink).length, 2)
    clock.advance(60_000)
    await junk(1)
    t.same(warnings(sink)[2], { msg: `${BASE}, and 3 more since the last such warning`, channel, suppressed: 3 })
    t.equal(app.broadcast.stats().rejected, 1006, 'every one counted')
    // Valid messages pass as before, and are not held back by the junk around them.
    await admin.publish(channel, '{"v":1,"id":"00000000-0000-4000-8000-000000000001","o":"other:1","t":1,"d":"real"}')
    await waitUntil('received', () => app.broadcast.stats().received === 1)
    t.same(handled, ['real'])
    t.equal(warnings(sink).length, 3)
  })

  t.test('each instance holds back its own warnings', async (t) => {
    frozenClock(t)
    const sinks = [logSink('warn'), logSink('warn')]
    for (const sink of sinks) {
      const app = appFor(t, { logger: sink.logger })
      await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
      app.broadcast.subscribe('news', () => {})
      await app.ready()
    }
    await waitRedisSubscribers(admin, 'news', 2)
    await admin.publish(PREFIX + 'c:news', 'junk')
    await admin.publish(PREFIX + 'c:news', 'junk')
    await waitUntil('both warned', () => sinks.every((sink) => warnings(sink).length === 1))
    for (const sink of sinks) t.same(warnings(sink), [{ msg: BASE, channel: PREFIX + 'c:news', suppressed: 0 }])
  })
})
