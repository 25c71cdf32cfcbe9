import t from 'tap'
import broadcast from '@scaleout/broadcast'
import { appFor, frozenClock, logSink, redisFor, type LogSink } from '../helpers/index.js'

// Once one warning, with its stack, per publish that Redis did not take: while Redis was down, a
// service publishing a thousand messages a second (or a WebSocket client whose every frame makes
// onMessage publish) wrote a thousand warnings a second to the log. Now the first is logged, then
// at most one a minute with the number held back since; stats().remoteFailures still counts each,
// and each publish still resolves with its own error.

const BASE = '@scaleout/broadcast: publish reached local subscribers only'

const warnings = (sink: LogSink): Array<{ msg: unknown, channel: unknown, suppressed: unknown, code: unknown }> =>
  sink.lines.filter((l) => l.level === 40 && String(l.msg).startsWith(BASE))
    .map((l) => ({ msg: l.msg, channel: l.channel, suppressed: l.suppressed, code: (l.err as { code?: unknown } | undefined)?.code }))

t.test('publishes that Redis does not take are logged once, then at most once a minute with the count held back since', async (t) => {
  const clock = frozenClock(t)
  const server = await redisFor(t)
  const sink = logSink('warn')
  const app = appFor(t, { logger: sink.logger })
  await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
  const handled: unknown[] = []
  app.broadcast.subscribe('news', (message) => { handled.push(message) })
  await app.ready()
  await server.kill()

  // Each publish still resolves with its own result and error, logged or not.
  const publish = async (count: number): Promise<void> => {
    const results = []
    for (let i = 0; i < count; i++) results.push(await app.broadcast.publish('news', i))
    const codes = new Set(results.map((r) => `${r.delivered} ${r.remote} ${r.receivers} ${(r.error as { code?: string } | null)?.code}`))
    t.same([...codes], ['1 false null SCALEOUT_ERR_REDIS_UNAVAILABLE'])
  }
  await publish(1000)
  t.same(warnings(sink), [{ msg: BASE, channel: 'news', suppressed: 0, code: 'SCALEOUT_ERR_REDIS_UNAVAILABLE' }], 'a thousand failed publishes, one warning')
  clock.advance(59_999)
  await publish(1)
  t.equal(warnings(sink).length, 1, 'held back until a minute has passed')
  clock.advance(1)
  await publish(1)
  t.same(warnings(sink)[1], { msg: `${BASE}, and 1000 more since the last such warning`, channel: 'news', suppressed: 1000, code: 'SCALEOUT_ERR_REDIS_UNAVAILABLE' })
  t.equal(app.broadcast.stats().remoteFailures, 1002, 'every one counted')
  t.equal(handled.length, 1002, 'every one delivered locally')
})
