import t from 'tap'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { build, cookieOf, sessionKeys } from './setup.js'

// A write appends to the session it read. When the session is gone by then (destroyed, expired),
// the APPEND makes the key again, with no expiry, and the write deletes it on seeing APPEND's
// reply. A write whose reply never comes (Redis paused past `timeout`, a dropped connection), or
// whose DEL fails, used to leave that key in Redis for ever (PTTL -1).

t.test('a write that lands on a session destroyed meanwhile, its reply lost, leaves no key without an expiry', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const app = await build(t, { redis: server.url, timeout: 300, ttl: '1h' }, {}, (app) => {
    app.post('/set-after-destroy', async (request) => {
      request.session.get('n')
      // Another instance ends the session; then Redis stalls before this request's write.
      const [key] = await sessionKeys(server)
      await admin.del(key as string)
      server.pause()
      request.session.set('n', 2)
      return { ok: true }
    })
  })
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  const [key] = await sessionKeys(server)

  const res = await app.inject({ method: 'POST', url: '/set-after-destroy', headers: { cookie } })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'SCALEOUT_ERR_SESSION_UNAVAILABLE')
  server.resume()
  // The write was on the wire: it runs when Redis wakes, and nobody is left to see its reply.
  await waitUntil('the stalled write to run', async () => await admin.exists(key as string) === 1)
  const pttl = await admin.pttl(key as string)
  t.ok(pttl > 0 && pttl <= 3_600_000, `the key it made expires (PTTL ${pttl})`)
  t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), {}, 'and reads as no session')
})
