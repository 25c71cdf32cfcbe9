import t from 'tap'
import { redisFor } from '../helpers/index.js'
import { build, cookieOf, roundTrips } from './setup.js'

// @fastify/session's suite starts save(cb) and sends the reply at once, without waiting for the
// callback. The response's own save then finds the change still pending: it must not write it a
// second time (a new session costs one round trip, README "Round trips").

t.test('save(cb) in flight when the reply is sent: the change is written once', async (t) => {
  const server = await redisFor(t)
  const calls: Array<Error | null | undefined> = []
  const app = await build(t, { redis: server.url }, {}, (app) => {
    app.get('/save-and-send', (request, reply) => {
      request.session.set('n', 1)
      request.session.save((err) => { calls.push(err) })
      reply.send({ ok: true })
    })
  })
  // Warm-up: the first call of a script on a connection loads it.
  await app.inject('/save-and-send')
  const { result, trips, commands } = await roundTrips(server, async () => await app.inject('/save-and-send'))
  t.equal(result.statusCode, 200)
  t.ok(cookieOf(result))
  t.same(calls, [null, null])
  t.equal(trips, 1, 'a new session: one round trip')
  t.same(commands, { evalsha: 1, time: 1, set: 1 })
})
