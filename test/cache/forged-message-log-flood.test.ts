import t from 'tap'
import cache from '@scaleout/cache'
import { adminFor, appFor, frozenClock, logSink, redisFor, waitUntil, type LogSink } from '../helpers/index.js'

// Once one warning per message: anyone who can PUBLISH on the invalidation channel could flood every
// instance's log. Now the first is logged, then at most one a minute with the number held back
// since; stats().bus.rejected counts each.

const CHANNEL = 'scaleout:cache:json.v1:bus'
const BASE = '@scaleout/cache: ignored a message that is not an invalidation'

const warnings = (sink: LogSink): Array<{ msg: unknown, channel: unknown, suppressed: unknown }> =>
  sink.lines.filter((l) => l.level === 40).map((l) => ({ msg: l.msg, channel: l.channel, suppressed: l.suppressed }))

t.test('junk published on the invalidation channel is logged once, then at most once a minute with the count held back, and each is counted', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const clock = frozenClock(t)
  const sink = logSink('warn')
  const app = appFor(t, { logger: sink.logger })
  await app.register(cache, { redis: server.url, heartbeatInterval: false })
  await app.ready()
  await app.cache.set('k', 1)
  const junk = async (count: number): Promise<void> => {
    const before = app.cache.stats().bus.rejected
    const pipeline = admin.pipeline()
    for (let i = 0; i < count; i++) pipeline.publish(CHANNEL, `junk ${i}`)
    await pipeline.exec()
    await waitUntil(`${count} more rejected`, async () => app.cache.stats().bus.rejected === before + count, 5000)
  }

  await junk(1000)
  t.same(warnings(sink), [{ msg: BASE, channel: CHANNEL, suppressed: 0 }], 'a thousand junk messages, one warning')
  clock.advance(59_999)
  await junk(1)
  t.equal(warnings(sink).length, 1, 'held back until a minute has passed')
  clock.advance(1)
  await junk(1)
  t.same(warnings(sink)[1], { msg: `${BASE}, and 1000 more since the last such warning`, channel: CHANNEL, suppressed: 1000 })
  await junk(2)
  t.equal(warnings(sink).length, 2)
  clock.advance(60_000)
  await junk(1)
  t.same(warnings(sink)[2], { msg: `${BASE}, and 2 more since the last such warning`, channel: CHANNEL, suppressed: 2 })
  t.equal(app.cache.stats().bus.rejected, 1005, 'every one counted')

  // A real invalidation, another instance's del, still works and is not counted as rejected.
  const other = appFor(t)
  await other.register(cache, { redis: server.url, heartbeatInterval: false })
  await other.ready()
  const messages = app.cache.stats().bus.messages
  t.equal(app.cache.stats().l1.entries, 1, 'the junk dropped nothing')
  await other.cache.del('k')
  await waitUntil('the invalidation arrives', async () => app.cache.stats().bus.messages === messages + 1, 5000)
  t.equal(app.cache.stats().l1.entries, 0, 'the invalidation dropped the L1 copy')
  t.equal(app.cache.stats().bus.rejected, 1005)
  t.equal(warnings(sink).length, 3)
})
