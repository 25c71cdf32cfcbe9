import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { adminFor, redisFor, waitUntil, type RedisServer } from '../helpers/index.js'
import { build, cookieOf, roundTrips, valueOf } from './setup.js'

// `durable`: WAIT follows every session write on the same connection, in the same write; fewer
// replicas than asked within `durable.timeout` is SCALEOUT_ERR_SESSION_NOT_DURABLE (503), never a
// change that a failover could undo while the caller believes it done.

function keyOf (cookie: string): string {
  const id = valueOf(cookie).slice(0, 51)
  return `scaleout:sess:{${id.slice(0, 8)}}:${id.slice(8)}`
}

interface Pair { primary: RedisServer, replica: RedisServer, admin: Redis, replicaAdmin: Redis }

/** A primary and one replica in sync with it. */
async function pair (t: Test): Promise<Pair> {
  const primary = await redisFor(t)
  const replica = await redisFor(t, { args: ['--replicaof', primary.host, String(primary.port)] })
  const replicaAdmin = adminFor(t, replica)
  await waitUntil('the replica to sync', async () => (await replicaAdmin.info('replication')).includes('master_link_status:up'), 15_000, 50)
  return { primary, replica, admin: adminFor(t, primary), replicaAdmin }
}

const NOT_DURABLE = (acked: number, replicas: number, ms: number): Record<string, unknown> => ({
  statusCode: 503,
  code: 'SCALEOUT_ERR_SESSION_NOT_DURABLE',
  error: 'Service Unavailable',
  message: `The session change reached ${acked} of the ${replicas} replicas required within ${ms}ms: a failover could lose it; try again shortly`
})

async function login (app: FastifyInstance, userId = 'u1'): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/login', payload: { userId } })
  if (res.statusCode !== 200) throw new Error(`login: ${res.statusCode} ${res.body}`)
  return cookieOf(res) as string
}

t.test('with a replica: every write is followed by one WAIT in the same round trip, and is on the replica when answered', async (t) => {
  const { primary, replicaAdmin } = await pair(t)
  const app = await build(t, { redis: primary.url, durable: { replicas: 1, timeout: '1s' } })
  // Warm-up: the first call of each script on a connection is an EVAL that loads it.
  await app.inject({ method: 'POST', url: '/logout', headers: { cookie: await login(app) } })

  const { result: loggedIn, commands: atLogin, trips: loginTrips } = await roundTrips(primary, async () => await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u1' } }))
  t.equal(loggedIn.statusCode, 200)
  // REPLCONF is the replica acknowledging, not a command of ours.
  const { replconf: _acks, ...ours } = atLogin
  t.same(ours, { evalsha: 1, wait: 1, time: 1, set: 1, zremrangebyscore: 1, pexpireat: 1, zrange: 1, zadd: 1, zcard: 1 }, 'the script (and what it runs inside) and one WAIT behind it')
  const cookie = cookieOf(loggedIn) as string
  t.equal(loginTrips, 2, 'the script and its WAIT: two commands, sent in one write')
  t.match(await replicaAdmin.get(keyOf(cookie)), /"m:u":"u1"/, 'the login is on the replica when answered')

  const { result: set, commands: atSet, trips: setTrips } = await roundTrips(primary, async () => await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: 7 } }))
  t.equal(set.statusCode, 200)
  const { replconf: _setAcks, ...setOurs } = atSet
  t.same(setOurs, { getex: 1, append: 1, pexpire: 1, wait: 1 }, 'the read, then the APPEND, its PEXPIRE and one WAIT behind them')
  t.equal(setTrips, 3, 'the read, then the APPEND and its WAIT, sent in one write')
  t.match(await replicaAdmin.get(keyOf(cookie)), /"d:n":"7"/)

  const { result: out, commands: atLogout } = await roundTrips(primary, async () => await app.inject({ method: 'POST', url: '/logout', headers: { cookie } }))
  t.equal(out.statusCode, 200)
  t.equal(atLogout.wait, 1)
  t.equal(await replicaAdmin.exists(keyOf(cookie)), 0, 'the logout is on the replica when answered')

  // destroyAllFor: each destroy waits too.
  const a = await login(app, 'u2')
  const b = await login(app, 'u2')
  const { result: ended, commands: atDestroyAll } = await roundTrips(primary, async () => await app.sessions.destroyAllFor('u2'))
  t.equal(ended, 2)
  t.equal(atDestroyAll.wait, 2, 'one WAIT per destroyed session')
  t.same(await replicaAdmin.exists(keyOf(a), keyOf(b)), 0)

  // Reads never wait.
  const c = await login(app, 'u3')
  const { result: read, commands: atRead } = await roundTrips(primary, async () => await app.inject({ url: '/get/userId', headers: { cookie: c } }))
  t.same(read.json(), { value: 'u3' })
  t.equal(atRead.wait, undefined)
})

t.test('a login with its own maxAge ("remember me"): the script sets its idle expiry, so the one WAIT covers that too', async (t) => {
  const { primary, replicaAdmin } = await pair(t)
  const app = await build(t, { redis: primary.url, durable: { replicas: 1, timeout: '1s' } }, {}, (app) => {
    app.post('/remember', async (request) => {
      await request.session.regenerate()
      request.session.set('userId', 'u1')
      request.session.cookie.maxAge = 30 * 86_400_000
      return { ok: true }
    })
  })
  await app.inject({ method: 'POST', url: '/logout', headers: { cookie: await login(app) } })

  const { result, commands, trips } = await roundTrips(primary, async () => await app.inject({ method: 'POST', url: '/remember' }))
  t.equal(result.statusCode, 200)
  const { replconf: _acks, ...ours } = commands
  t.same(ours, { evalsha: 1, wait: 1, time: 1, set: 1, zremrangebyscore: 1, pexpireat: 1, zrange: 1, zadd: 1, zcard: 1 }, 'no PEXPIRE after the WAIT')
  t.equal(trips, 2, 'the script and its WAIT')
  const ttl = await replicaAdmin.pttl(keyOf(cookieOf(result) as string))
  t.ok(ttl > 29 * 86_400_000 && ttl <= 30 * 86_400_000, 'the replica has the 30-day expiry when answered')
})

t.test('without durable: no WAIT', async (t) => {
  const { primary } = await pair(t)
  const app = await build(t, { redis: primary.url })
  const { result, commands } = await roundTrips(primary, async () => await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u1' } }))
  t.equal(result.statusCode, 200)
  t.equal(commands.wait, undefined)
})

t.test('the replica paused: a write, a login and a logout answer 503 NOT_DURABLE, never a 200', async (t) => {
  const { primary, replica, admin } = await pair(t)
  const app = await build(t, { redis: primary.url, timeout: 2000, durable: { timeout: 100 } })
  // Logged in without durable: on a loaded machine the replica may take longer than 100 ms.
  const plain = await build(t, { redis: primary.url })
  const cookie = await login(plain)
  const other = await login(plain)
  replica.pause()
  t.teardown(() => { replica.resume() })
  const set = await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: 1 } })
  t.same([set.statusCode, set.json()], [503, NOT_DURABLE(0, 1, 100)])
  t.match(await admin.get(keyOf(cookie)), /"d:n":"1"/, 'the change is on the primary: a retry finds it there')
  const relogin = await app.inject({ method: 'POST', url: '/login', headers: { cookie }, payload: { userId: 'u1' } })
  t.same([relogin.statusCode, relogin.json()], [503, NOT_DURABLE(0, 1, 100)])
  // (The login above did replace `cookie`'s session on the primary: log out another one.)
  const out = await app.inject({ method: 'POST', url: '/logout', headers: { cookie: other } })
  t.same([out.statusCode, out.json()], [503, NOT_DURABLE(0, 1, 100)])
  await t.rejects(app.sessions.destroyAllFor('u1'), { code: 'SCALEOUT_ERR_SESSION_NOT_DURABLE' })
})

t.test('no replica at all: 503 NOT_DURABLE; two asked of one: 503 naming 1 of 2', async (t) => {
  const alone = await redisFor(t)
  const app = await build(t, { redis: alone.url, durable: { timeout: 50 } })
  const res = await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u1' } })
  t.same([res.statusCode, res.json()], [503, NOT_DURABLE(0, 1, 50)])
  t.equal(cookieOf(res), undefined, 'no cookie for a login that may not last')

  // A regenerate() that may not last has replaced the old session on the primary all the same, under
  // an id the client never received: the README says a retry starts over without the kept keys.
  const anonymous = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: 3 } }))
  t.equal(anonymous, undefined, 'even creating a session is refused without a replica')
  const writesOnly = await build(t, { redis: alone.url, durable: { timeout: 50, writes: 'logins' } })
  const cart = cookieOf(await writesOnly.inject({ method: 'POST', url: '/set', payload: { cart: 3 } })) as string
  const refused = await writesOnly.inject({ method: 'POST', url: '/login', headers: { cookie: cart }, payload: { userId: 'u1', keep: ['cart'] } })
  t.same([refused.statusCode, cookieOf(refused)], [503, undefined])
  t.same((await writesOnly.inject({ url: '/data', headers: { cookie: cart } })).json(), {}, 'the old cookie now reads as no session: the cart is gone for this client')

  // WAIT runs its whole timeout here (the second replica never comes): long enough that the one
  // replica there has acknowledged by then even on a loaded machine.
  const { primary } = await pair(t)
  const two = await build(t, { redis: primary.url, durable: { replicas: 2, timeout: 500 } })
  const res2 = await two.inject({ method: 'POST', url: '/login', payload: { userId: 'u1' } })
  t.same([res2.statusCode, res2.json()], [503, NOT_DURABLE(1, 2, 500)])
})

t.test('scripts flushed: the script is sent again as EVAL, and WAIT again behind it', async (t) => {
  const { primary, admin, replicaAdmin } = await pair(t)
  const app = await build(t, { redis: primary.url, durable: {} })
  const cookie = await login(app)
  await admin.script('FLUSH')
  const { result, commands } = await roundTrips(primary, async () => await app.inject({ method: 'POST', url: '/login', headers: { cookie }, payload: { userId: 'u9' } }))
  t.equal(result.statusCode, 200)
  t.equal(commands.eval, 1, 'sent again in full')
  t.equal(commands.wait, 2, 'a WAIT behind each send: the second one counts the write')
  t.match(await replicaAdmin.get(keyOf(cookieOf(result) as string)), /"m:u":"u9"/)
})

t.test('the primary paused: the write and its WAIT time out together, 503 UNAVAILABLE', async (t) => {
  const { primary } = await pair(t)
  const app = await build(t, { redis: primary.url, timeout: 200, durable: { timeout: 100 } })
  // Logged in without durable: on a loaded machine the replica may take longer than 100 ms.
  const cookie = await login(await build(t, { redis: primary.url }))
  primary.pause()
  t.teardown(() => { primary.resume() })
  const res = await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: 1 } })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'SCALEOUT_ERR_SESSION_UNAVAILABLE')
})

t.test('writes: \'logins\': only logins and logouts wait; other saves cost what they cost without durable', async (t) => {
  const { primary, replica } = await pair(t)
  const app = await build(t, { redis: primary.url, timeout: 2000, durable: { timeout: 100, writes: 'logins' } }, {}, (app) => {
    app.post('/forget', async (request) => {
      request.session.delete('userId')
      return { ok: true }
    })
  })
  // Logged in without durable: on a loaded machine the replica may take longer than 100 ms.
  const plain = await build(t, { redis: primary.url })
  const cookie = await login(plain)
  const other = await login(plain)
  const anonymous = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  // With the replica up: a modification sends no WAIT, a login one.
  const { commands: atSet } = await roundTrips(primary, async () => await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: 2 } }))
  t.equal(atSet.wait, undefined)
  const { commands: atLogin } = await roundTrips(primary, async () => await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u2' } }))
  t.equal(atLogin.wait, 1)

  replica.pause()
  t.teardown(() => { replica.resume() })
  const status = async (url: string, cookie: string | undefined, payload: Record<string, unknown> = {}): Promise<number> =>
    (await app.inject({ method: 'POST', url, payload, ...(cookie === undefined ? {} : { headers: { cookie } }) })).statusCode
  t.equal(await status('/set', cookie, { n: 3 }), 200, 'a modification: no WAIT')
  t.equal(await status('/set', undefined, { n: 1 }), 200, 'a new session without a user: no WAIT')
  t.equal(await status('/set', anonymous, { userId: 'u3' }), 503, 'a save that sets the user (a login without regenerate)')
  t.equal(await status('/forget', other), 503, 'a save that removes the user (a logout without destroy)')
  t.equal(await status('/login', undefined, { userId: 'u4' }), 503, 'a login without a session')
  t.equal(await status('/login', cookie, { userId: 'u1' }), 503, 'a login (regenerate) of a session')
  t.equal(await status('/logout', other), 503, 'a logout')
})
