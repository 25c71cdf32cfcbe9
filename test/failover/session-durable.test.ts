import t from 'tap'
import session from '@scaleout/session'
import { appFor, RedisSentinelHarness, waitUntil } from '../helpers/index.js'
import { SECRET } from './fleet.js'

// With `durable`, an acknowledged session change is on a replica before the answer leaves, so the
// replica Sentinel promotes has it: logouts stay logouts, logins stay logins. The primary is killed
// right after the last acknowledgement, before anything else could have replicated it. `replicas`
// is both replicas: with fewer, Sentinel could promote one that had not acknowledged.

function cookieOf (header: string | string[] | undefined): string {
  const first = Array.isArray(header) ? header[0] : header
  return (first as string).split(';')[0] as string
}

t.test('Sentinel: logouts and logins acknowledged with `durable` survive the primary being killed', async (t) => {
  const setup = await RedisSentinelHarness.start({ replicas: 2, sentinels: 3 })
  t.teardown(async () => await setup.stop())
  const app = appFor(t)
  await app.register(session, { secret: SECRET, redis: setup.connection, timeout: 1000, durable: { replicas: 2, timeout: 500 } })
  app.post('/login', async (request) => {
    await request.session.regenerate()
    request.session.set('userId', (request.body as { userId: string }).userId)
    return { ok: true }
  })
  app.post('/logout', async (request) => {
    await request.session.destroy()
    return { ok: true }
  })
  app.get('/me', async (request) => ({ userId: request.session.get('userId') ?? null }))
  await app.ready()

  const login = async (userId: string): Promise<string> => {
    const res = await app.inject({ method: 'POST', url: '/login', payload: { userId } })
    t.equal(res.statusCode, 200, `login ${userId}`)
    return cookieOf(res.headers['set-cookie'])
  }
  const loggedOut = await Promise.all(Array.from({ length: 20 }, async (_, i) => await login(`out${i}`)))
  const kept = await Promise.all(Array.from({ length: 20 }, async (_, i) => await login(`in${i}`)))
  const outs = await Promise.all(loggedOut.map(async (cookie) => await app.inject({ method: 'POST', url: '/logout', headers: { cookie } })))
  t.same(outs.map((r) => r.statusCode), Array(20).fill(200), 'every logout acknowledged')

  await setup.killPrimary()
  await setup.waitPromotion()
  // Until the client has found the new primary, session routes answer 503.
  await waitUntil('the session store to answer again', async () =>
    (await app.inject({ url: '/me', headers: { cookie: kept[0] as string } })).statusCode === 200, 30_000, 100)

  for (const [i, cookie] of loggedOut.entries()) {
    const res = await app.inject({ url: '/me', headers: { cookie } })
    t.same([res.statusCode, res.json()], [200, { userId: null }], `logout ${i} stayed a logout`)
  }
  for (const [i, cookie] of kept.entries()) {
    const res = await app.inject({ url: '/me', headers: { cookie } })
    t.same([res.statusCode, res.json()], [200, { userId: `in${i}` }], `login ${i} survived`)
  }
})
