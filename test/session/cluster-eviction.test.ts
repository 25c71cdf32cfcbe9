import t from 'tap'
import { Cluster } from 'ioredis'
import { freePort, logSink, RedisClusterHarness } from '../helpers/index.js'
import { build, cookieOf } from './setup.js'

// The README: listFor and destroyAllFor first check that Redis cannot evict the user index, "one
// CONFIG GET per master, on every call". On a Cluster the index of a user lives on whichever master
// serves the user's slot, so each master is checked, and any one that may evict makes them refuse.

const EVICTING_LOG = '@scaleout/session: Redis may evict keys (maxmemory-policy allkeys-lru): listFor and destroyAllFor will refuse with SCALEOUT_ERR_SESSION_EVICTION; set maxmemory-policy noeviction'

t.test('on a 3-master Cluster, the eviction policy is checked on every master', async (t) => {
  const cluster = await RedisClusterHarness.start()
  t.teardown(async () => await cluster.stop())
  const app = await build(t, { redis: { cluster: cluster.urls } })
  await app.inject({ method: 'POST', url: '/login', payload: { userId: 'everyone' } })
  t.equal(cluster.nodes.length, 3)

  t.test('one CONFIG GET per master, on every call', async (t) => {
    for (let call = 0; call < 2; call++) {
      const before = await Promise.all(cluster.nodes.map(async (node) => (await node.commandStats())['config|get'] ?? 0))
      t.equal((await app.sessions.listFor('everyone')).length, 1)
      const after = await Promise.all(cluster.nodes.map(async (node) => (await node.commandStats())['config|get'] ?? 0))
      t.same(after.map((n, i) => n - (before[i] as number)), [1, 1, 1], `call ${call + 1}: each master asked once`)
    }
  })

  t.test('any one master that may evict makes listFor and destroyAllFor refuse; the others do not hide it', async (t) => {
    for (const [i, node] of cluster.nodes.entries()) {
      const admin = node.client()
      try {
        await admin.config('SET', 'maxmemory', '64mb')
        await admin.config('SET', 'maxmemory-policy', 'allkeys-lru')
        const refused = { code: 'SCALEOUT_ERR_SESSION_EVICTION', statusCode: 500, message: /maxmemory-policy allkeys-lru/ }
        await t.rejects(app.sessions.listFor('everyone'), refused, `master ${i + 1} evicts: listFor refuses`)
        await t.rejects(app.sessions.destroyAllFor('everyone'), refused, `master ${i + 1} evicts: destroyAllFor refuses`)
        // Registered while that master evicts: the start-up check names it too.
        const sink = logSink('info')
        await build(t, { redis: { cluster: cluster.urls } }, { logger: sink.logger })
        t.equal(sink.lines.filter((l) => l.level === 50 && l.msg === EVICTING_LOG).length, 1, `master ${i + 1} evicts: logged once at start-up`)
      } finally {
        await admin.config('SET', 'maxmemory-policy', 'noeviction')
        await admin.config('SET', 'maxmemory', '0')
        admin.disconnect()
      }
      t.equal((await app.sessions.listFor('everyone')).length, 1, `master ${i + 1} back to noeviction: allowed again`)
    }
  })

  // Regression: a Cluster client the app passed that had not connected yet (lazyConnect, or given
  // one seed node and still connecting) knew none of the masters, or only its seeds, so the first
  // calls checked nothing and read the index of a Redis that may evict it.
  t.test('a passed Cluster client not yet connected is checked on every master once it knows them', async (t) => {
    const [seed, evicting] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]]
    const admin = evicting.client()
    t.teardown(async () => {
      await admin.config('SET', 'maxmemory-policy', 'noeviction')
      await admin.config('SET', 'maxmemory', '0')
      admin.disconnect()
    })
    await admin.config('SET', 'maxmemory', '64mb')
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru')
    const client = new Cluster([{ host: seed.host, port: seed.port }], { lazyConnect: true })
    t.teardown(() => { client.disconnect() })
    const lazy = await build(t, { redis: client })
    t.equal(client.status, 'wait', 'not connected yet')
    t.same(client.nodes('master'), [], 'so it knows no master')
    await t.rejects(lazy.sessions.listFor('everyone'), { code: 'SCALEOUT_ERR_SESSION_EVICTION', message: /maxmemory-policy allkeys-lru/ })
    t.equal(client.status, 'ready')
  })

  t.test('a passed Cluster client that never becomes ready: the check reports Redis unavailable', async (t) => {
    for (const lazyConnect of [false, true]) {
      const client = new Cluster([{ host: '127.0.0.1', port: await freePort() }], { lazyConnect })
      t.teardown(() => { client.disconnect() })
      const away = await build(t, { redis: client, timeout: 200 })
      await t.rejects(away.sessions.destroyAllFor('everyone'), { code: 'SCALEOUT_ERR_SESSION_UNAVAILABLE', statusCode: 503 }, `lazyConnect: ${String(lazyConnect)}`)
    }
  })

  t.test('with every master on noeviction, "log out everywhere" works', async (t) => {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'everyone' } })) as string
    t.equal(await app.sessions.destroyAllFor('everyone'), 2)
    t.same((await app.inject({ url: '/get/userId', headers: { cookie } })).json(), { value: null })
  })
})
