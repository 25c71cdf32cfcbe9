import t from 'tap'
import { adminFor, appFor, logSink, redisFor } from '../helpers/index.js'

t.test('a Redis, an admin client and an app, each torn down with the test', async (t) => {
  let server: Awaited<ReturnType<typeof redisFor>> | undefined
  let closed = false
  await t.test('inner', async (t) => {
    server = await redisFor(t)
    const admin = adminFor(t, server)
    t.equal(await admin.set('k', 'v'), 'OK')
    const app = appFor(t, { logger: false })
    app.addHook('onClose', async () => { closed = true })
    await app.ready()
  })
  t.equal(closed, true, 'the app was closed')
  t.equal(server?.running, false, 'the server was stopped')
})

t.test('a log sink keeps lines as objects', async (t) => {
  const sink = logSink('info')
  const app = appFor(t, { logger: sink.logger })
  app.log.info('hello')
  app.log.warn('careful')
  t.same(sink.messages(), ['hello', 'careful'])
  t.same(sink.messages(40), ['careful'])
  t.equal(sink.lines[0]?.level, 30)
})
