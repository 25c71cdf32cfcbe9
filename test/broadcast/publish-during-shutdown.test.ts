import t from 'tap'
import broadcast from '@scaleout/broadcast'
import { appFor, redisFor, waitUntil } from '../helpers/index.js'

// fastify.close() runs preClose, then waits for the requests in flight, then onClose. publish()
// refused from preClose on: a request still being served during a rolling deploy, which publishes
// what it just did (POST /news in the README), failed with SCALEOUT_ERR_BROADCAST_CLOSED although
// Redis was still connected, and the other instances never heard of it.

t.test('a request in flight when shutdown starts still publishes to the other instances', async (t) => {
  const server = await redisFor(t)
  const there = appFor(t)
  await there.register(broadcast, { redis: server.url, heartbeatInterval: false })
  await there.ready()
  const seen: unknown[] = []
  there.broadcast.subscribe('news', (message) => { seen.push(message) })

  const app = appFor(t)
  await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
  let entered = false
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  app.post('/news', async (_request, reply) => {
    entered = true
    await gate
    const result = await app.broadcast.publish('news', 'late')
    // Otherwise the client's keep-alive link holds close() for Fastify's keepAliveTimeout (72 s).
    reply.header('connection', 'close')
    return { remote: result.remote }
  })
  let preClosed = false
  app.after(() => { app.addHook('preClose', async () => { preClosed = true }) })
  await app.listen({ host: '127.0.0.1', port: 0 })
  await waitUntil('both instances subscribed', async () => there.broadcast.stats().channels === 2)

  const response = fetch(`http://127.0.0.1:${(app.server.address() as { port: number }).port}/news`, { method: 'POST' })
  await waitUntil('the request in flight', () => entered)
  const closed = app.close()
  await waitUntil('shutdown started', () => preClosed)
  release()
  const answer = await response
  t.same({ status: answer.status, body: await answer.json() }, { status: 200, body: { remote: true } })
  await waitUntil('the other instance got it', () => seen.length === 1)
  t.same(seen, ['late'])
  await closed
  await t.rejects(app.broadcast.publish('news', 'after close'), { code: 'SCALEOUT_ERR_BROADCAST_CLOSED' }, 'refused once closed')
})
