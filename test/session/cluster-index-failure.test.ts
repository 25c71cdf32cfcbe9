import t from 'tap'
import { RedisClusterHarness } from '../helpers/index.js'
import { build, cookieOf } from './setup.js'

// Regression: on a Cluster a login's index entry goes in a call of its own, to the user's slot,
// alongside the session's own call. When that index call failed (the user's master away or
// refusing) while the session's call landed, the request answered an error but the session stayed
// logged in (a login by setting the user key keeps the id the browser holds) and in no index:
// "log out everywhere" could never find it. Such a session is ended instead: nothing logged in is
// ever left out of its user's index.

/** The session keys (not forwarding records, nor user indexes) on every master. */
async function liveSessions (cluster: RedisClusterHarness): Promise<string[]> {
  const live: string[] = []
  for (const node of cluster.nodes) {
    const client = node.client()
    try {
      for (const key of await client.keys('scaleout:sess:{*')) if (!((await client.get(key)) ?? '').startsWith('{"m:n":')) live.push(key)
    } finally {
      client.disconnect()
    }
  }
  return live
}

t.test('a Cluster login whose index call fails while the session\'s call lands leaves no session outside the index', async (t) => {
  const cluster = await RedisClusterHarness.start()
  t.teardown(async () => await cluster.stop())
  // A Redis user that may write sessions but not the user indexes.
  for (const node of cluster.nodes) {
    const admin = node.client()
    await admin.call('ACL', 'SETUSER', 'noindex', 'on', '>pw-0123456789', '~scaleout:sess:{*', '+@all')
    admin.disconnect()
  }
  const app = await build(t, { redis: { cluster: cluster.urls } })
  const client = cluster.client()
  t.teardown(() => client.disconnect())
  const limited = await build(t, { redis: { cluster: cluster.urls.map((url) => url.replace('redis://', 'redis://noindex:pw-0123456789@')) } }, {}, (app) => {
    app.post('/destroyed-then-user-set', async (request) => {
      await client.del(`scaleout:sess:{${request.session.id.slice(0, 8)}}:${request.session.id.slice(8)}`)
      request.session.set('userId', (request.body as { userId: string }).userId)
      return { ok: true }
    })
  })

  t.test('a login by setting the user key on an existing session', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const res = await limited.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { userId: 'ursula' } })
    t.equal(res.statusCode, 500)
    t.equal(res.json().code, 'SCALEOUT_ERR_REDIS_NOPERM')
    t.same((await app.inject({ url: '/get/userId', headers: { cookie } })).json(), { value: null }, 'not logged in')
    t.same(await app.sessions.listFor('ursula'), [])
    t.same(await liveSessions(cluster), [], 'the session is ended: none is left that the index misses')
  })

  t.test('a login on a session destroyed meanwhile: nothing landed, nothing to end, the index call\'s error', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const res = await limited.inject({ method: 'POST', url: '/destroyed-then-user-set', headers: { cookie }, payload: { userId: 'wanda' } })
    t.equal(res.statusCode, 500)
    t.equal(res.json().code, 'SCALEOUT_ERR_REDIS_NOPERM')
    t.same(await app.sessions.listFor('wanda'), [])
    t.same(await liveSessions(cluster), [])
  })

  t.test('a login by regenerate()', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const res = await limited.inject({ method: 'POST', url: '/login', headers: { cookie }, payload: { userId: 'vera' } })
    t.equal(res.statusCode, 500)
    t.equal(res.json().code, 'SCALEOUT_ERR_REDIS_NOPERM')
    t.equal(res.headers['set-cookie'], undefined)
    t.same(await app.sessions.listFor('vera'), [])
    t.same(await liveSessions(cluster), [], 'the session the login created is ended (the old one is its forwarding record)')
  })
})
