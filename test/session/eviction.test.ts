import t from 'tap'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import session from '@scaleout/session'
import { adminFor, logSink, redisFor, waitUntil } from '../helpers/index.js'
import { build, cookieOf, SECRET } from './setup.js'

const REFUSED = {
  code: 'SCALEOUT_ERR_SESSION_EVICTION',
  statusCode: 500,
  message: 'Redis may evict keys (maxmemory-policy allkeys-lru with a maxmemory set), so the per-user index cannot be trusted: listFor and destroyAllFor refuse. Set maxmemory-policy to noeviction for sessions'
}

// Regression: with allkeys-lru the index could be evicted before the sessions it lists, and
// destroyAllFor then destroyed nothing while a stolen cookie stayed valid, without a word.
t.test('on a Redis configured with allkeys-lru, "log out everywhere" refuses loudly', async (t) => {
  const server = await redisFor(t, { args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
  const sink = logSink('info')
  const app = await build(t, { redis: server.url }, { logger: sink.logger })
  t.ok(sink.lines.some((l) => l.level === 50 && l.msg === EVICTING_LOG), 'an error at start-up')
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'alice' } })) as string
  await t.rejects(app.sessions.destroyAllFor('alice'), REFUSED)
  await t.rejects(app.sessions.listFor('alice'), REFUSED)
  t.same((await app.inject({ url: '/get/userId', headers: { cookie } })).json(), { value: 'alice' }, 'sessions themselves keep working')
})

const EVICTING_LOG = '@scaleout/session: Redis may evict keys (maxmemory-policy allkeys-lru): listFor and destroyAllFor will refuse with SCALEOUT_ERR_SESSION_EVICTION; set maxmemory-policy noeviction'

// Regression: the start-up check ran only on a client that was ready at registration, so a client
// the app created just before (still connecting) was never checked and nothing was logged.
t.test('a client the app passes while it is still connecting is checked once it is ready', async (t) => {
  const server = await redisFor(t, { args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] })
  const client = new Redis(server.url)
  t.teardown(() => { client.disconnect() })
  t.equal(client.status, 'connecting')
  const sink = logSink('info')
  const app = await build(t, { redis: client }, { logger: sink.logger })
  await waitUntil('the start-up error', () => sink.lines.some((l) => l.level === 50 && l.msg === EVICTING_LOG), 5000)
  t.equal(sink.lines.filter((l) => l.msg === EVICTING_LOG).length, 1, 'logged once')
  await t.rejects(app.sessions.destroyAllFor('alice'), REFUSED)
})

t.test('an app closed before its client was ever ready leaves no listener on it', async (t) => {
  const server = await redisFor(t)
  const client = new Redis(server.url, { lazyConnect: true })
  t.teardown(() => { client.disconnect() })
  const before = client.listenerCount('ready')
  const app = Fastify()
  await app.register(session, { secret: SECRET, redis: client })
  t.equal(client.listenerCount('ready'), before + 1, 'the check waits for the client')
  await app.close()
  t.equal(client.status, 'wait', 'never connected')
  t.equal(client.listenerCount('ready'), before, 'and stops waiting when the app closes')
})

t.test('the policy is read on every call: a change at run time is seen', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const app = await build(t, { redis: server.url })
  await app.inject({ method: 'POST', url: '/login', payload: { userId: 'bob' } })
  t.equal((await app.sessions.listFor('bob')).length, 1, 'noeviction (the Redis default): allowed')
  await admin.config('SET', 'maxmemory-policy', 'allkeys-lru')
  t.equal((await app.sessions.listFor('bob')).length, 1, 'allkeys-lru without a maxmemory never evicts: allowed')
  await admin.config('SET', 'maxmemory', '64mb')
  await t.rejects(app.sessions.destroyAllFor('bob'), REFUSED)
  await admin.config('SET', 'maxmemory-policy', 'volatile-lru')
  await t.rejects(app.sessions.destroyAllFor('bob'), { code: 'SCALEOUT_ERR_SESSION_EVICTION', message: /maxmemory-policy volatile-lru/ }, 'our keys all expire, so volatile policies may evict them too')
  await admin.config('SET', 'maxmemory-policy', 'noeviction')
  t.equal(await app.sessions.destroyAllFor('bob'), 1)
})

t.test('where CONFIG is not allowed, the calls go on and warn once that the policy is unknown', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  await admin.call('ACL', 'SETUSER', 'noconfig', 'on', '>pw-0123456789', '~*', '+@all', '-config')
  const sink = logSink('info')
  const app = await build(t, { redis: `redis://noconfig:pw-0123456789@127.0.0.1:${server.port}` }, { logger: sink.logger })
  await app.inject({ method: 'POST', url: '/login', payload: { userId: 'carol' } })
  t.equal((await app.sessions.listFor('carol')).length, 1)
  t.equal(await app.sessions.destroyAllFor('carol'), 1)
  t.equal(sink.messages().filter((m) => m.includes('CONFIG GET maxmemory-policy is not allowed')).length, 1)
})

t.test('with Redis down the check reports the outage, not an unknown policy', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url })
  await server.kill()
  await t.rejects(app.sessions.listFor('dave'), { code: 'SCALEOUT_ERR_SESSION_UNAVAILABLE' })
})
