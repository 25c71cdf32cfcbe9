import t from 'tap'
import Fastify from 'fastify'
import { Cluster } from 'ioredis'
import { resolveRedis, taggedKey } from '@scaleout/core'
import { RedisClusterHarness, rawCommand } from '../helpers/index.js'

const plugin = '@scaleout/test'

t.test('resolveRedis against a real 3-master Cluster', async (t) => {
  const cluster = await RedisClusterHarness.start()
  t.teardown(async () => await cluster.stop())

  t.test('{ cluster: urls } makes a Cluster we own and quit on close', async (t) => {
    const app = Fastify()
    const resolved = await resolveRedis(app, { cluster: cluster.urls, redisOptions: { connectionName: 'scaleout-cluster' } }, { plugin })
    t.equal(resolved.owned, true)
    t.equal(resolved.isCluster, true)
    t.equal(resolved.source, 'cluster')
    t.ok(resolved.client instanceof Cluster)
    t.equal(resolved.client.status, 'ready')
    // Keys spread over every master, and multi-key commands work inside one hash tag.
    for (let i = 0; i < 30; i++) await resolved.client.set(`spread:${i}`, String(i))
    for (const node of cluster.nodes) t.ok(Number((await rawCommand(node.port, 'DBSIZE')).slice(1)) > 0, `node ${node.port} holds keys`)
    const a = taggedKey('app:', 'user-1', 'a')
    const b = taggedKey('app:', 'user-1', 'b')
    t.same(await resolved.client.mset(a, '1', b, '2'), 'OK')
    t.same(await resolved.client.mget(a, b), ['1', '2'])
    const copy = resolved.duplicate()
    t.ok(copy instanceof Cluster)
    await app.close()
    t.equal(resolved.client.status, 'end')
    t.equal(copy.status, 'end')
  })

  t.test('rediss:// and credentials in node URLs become TLS and auth options', async (t) => {
    const app = Fastify()
    // Nothing listens with TLS here: the point is how the URL was read, not the handshake.
    const resolved = await resolveRedis(app, {
      cluster: ['rediss://user:p%40ss@127.0.0.1:1'],
      clusterRetryStrategy: () => null
    }, { plugin, readyTimeoutMs: 50 })
    const options = (resolved.client as Cluster).options.redisOptions
    t.same(options?.tls, {})
    t.equal(options?.username, 'user')
    t.equal(options?.password, 'p@ss')
    t.equal(options?.commandTimeout, 1000)
    await app.close()
  })

  t.test('a node URL without a port uses 6379', async (t) => {
    const app = Fastify()
    const resolved = await resolveRedis(app, { cluster: ['redis://127.0.0.1'], clusterRetryStrategy: () => null }, { plugin, readyTimeoutMs: 50 })
    t.same((resolved.client as unknown as { startupNodes: unknown[] }).startupNodes, [{ host: '127.0.0.1', port: 6379 }])
    await app.close()
  })

  t.test('a Cluster passed in stays the caller\'s', async (t) => {
    const mine = cluster.client()
    t.teardown(() => mine.disconnect())
    await mine.ping()
    const app = Fastify()
    const resolved = await resolveRedis(app, mine, { plugin })
    t.equal(resolved.owned, false)
    t.equal(resolved.isCluster, true)
    await app.close()
    t.equal(mine.status, 'ready')
    t.equal(await mine.set('still', 'open'), 'OK')
  })
})
