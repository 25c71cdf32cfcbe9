import t from 'tap'
import { FreezingProxy, RedisClusterHarness, waitUntil } from '../helpers/index.js'
import { Client, PREFIX, startInstance, waitRedisSubscribers, waitSubscribed, type Instance } from './helpers.js'

t.test('Redis Cluster: sharded pub/sub chosen automatically, across 3 masters', async (t) => {
  const cluster = await RedisClusterHarness.start()
  t.teardown(async () => await cluster.stop())
  const instances: Instance[] = []
  const clients: Client[] = []
  // Channel names chosen so that their slots fall on different masters.
  const channels = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot']
  const owners = await Promise.all(channels.map(async (c) => await cluster.nodeFor(PREFIX + 'c:' + c)))
  t.ok(new Set(owners.map((n) => n.port)).size >= 2, 'the channels live on more than one master')

  for (let i = 0; i < 3; i++) instances.push(await startInstance(t, { redis: { cluster: cluster.urls, redisOptions: { connectionName: 'bcast' } }, heartbeatInterval: '60s' }))
  t.same(instances.map((i) => i.app.broadcast.sharded), [true, true, true])
  t.teardown(() => { for (const c of clients) c.close() })
  for (const instance of instances) clients.push(await Client.connect(instance.wsUrl, channels))
  await waitSubscribed(instances, channels.length)
  const admins = owners.map((n) => n.client())
  t.teardown(() => { for (const a of admins) a.disconnect() })
  for (const [i, c] of channels.entries()) await waitRedisSubscribers(admins[i] as never, c, 3, true)

  const { commands } = await cluster.countCommands(async () => {
    for (const [i, c] of channels.entries()) {
      const result = await (instances[i % 3] as Instance).app.broadcast.publish(c, { c })
      t.match(result, { delivered: 1, remote: true, receivers: 3 }, `${c}: SPUBLISH reached the 3 shard subscribers`)
    }
    for (const client of clients) await client.waitFor(channels.length)
  })
  t.equal(commands.spublish, channels.length, 'one SPUBLISH per message')
  t.equal(commands.publish, undefined, 'no classic PUBLISH')
  for (const client of clients) {
    t.same(client.received.map((m) => m.channel).sort(), [...channels].sort())
  }
  for (const admin of admins) t.same(await admin.call('PUBSUB', 'NUMSUB', PREFIX + 'c:alpha'), [PREFIX + 'c:alpha', 0], 'nothing subscribed the classic way')

  // Per master and per instance: one shard subscriber, plus at most the publisher's link and the
  // subscriber Cluster's own (slot discovery) link. However many channels and sockets.
  for (const node of cluster.nodes) {
    const admin = node.client()
    // Only the instances' connections (named), not the test's and the harness's own.
    const lines = (await admin.client('LIST') as string).trim().split('\n').filter((l) => /name=\S*bcast/.test(l))
    admin.disconnect()
    t.equal(lines.filter((l) => !/ ssub=0 /.test(l)).length, 3, `${node.port}: three shard subscribers, one per instance`)
    t.ok(lines.length <= 9, `${node.port}: at most three connections per instance (${lines.length} for three)`)
  }

  t.test('a master restarted: its shard channels are subscribed again and messages flow', async (t) => {
    const node = owners[0] as (typeof owners)[number]
    await node.restart()
    await cluster.waitHealthy()
    const admin = node.client()
    t.teardown(() => admin.disconnect())
    await waitRedisSubscribers(admin, 'alpha', 3, true)
    const before = clients.map((c) => c.received.length)
    await waitUntil('publish accepted again', async () => (await (instances[1] as Instance).app.broadcast.publish('alpha', 'back')).remote, 20_000, 200)
    for (const [i, c] of clients.entries()) {
      await c.waitFor((before[i] as number) + 1)
      t.same(c.received.at(-1), { channel: 'alpha', data: 'back' })
    }
  })
})

t.test('Redis Cluster with sharded: false uses classic PUBLISH through the cluster bus', async (t) => {
  const cluster = await RedisClusterHarness.start()
  t.teardown(async () => await cluster.stop())
  const instances = [
    await startInstance(t, { redis: { cluster: cluster.urls }, sharded: false }),
    await startInstance(t, { redis: { cluster: cluster.urls }, sharded: false })
  ]
  const [a, b] = instances as [Instance, Instance]
  t.equal(a.app.broadcast.sharded, false)
  const seen: unknown[] = []
  b.app.broadcast.subscribe('classic', (m) => { seen.push(m) })
  await waitUntil('delivered', async () => {
    await a.app.broadcast.publish('classic', 'hi')
    return seen.length > 0
  }, 15_000, 200)
  t.equal(seen[0], 'hi')
})

t.test('Redis Cluster: the heartbeat detects dead shard subscriptions and reconnects the subscriber', async (t) => {
  const cluster = await RedisClusterHarness.start()
  t.teardown(async () => await cluster.stop())
  // One black-holing proxy per node; natMap makes ioredis reach every node through its proxy.
  const proxies = await Promise.all(cluster.nodes.map(async (n) => await FreezingProxy.start(n.port)))
  t.teardown(async () => { for (const p of proxies) await p.close() })
  const natMap = Object.fromEntries(cluster.nodes.map((n, i) => [`${n.host}:${n.port}`, { host: '127.0.0.1', port: (proxies[i] as FreezingProxy).port }]))
  const watched = await startInstance(t, { redis: { cluster: proxies.map((p) => p.url), natMap }, heartbeatInterval: 150, heartbeatMisses: 2 })
  const publisher = await startInstance(t, { redis: { cluster: cluster.urls } })
  const got: unknown[] = []
  watched.app.broadcast.subscribe('zulu', (m) => { got.push(m) })
  await waitUntil('delivered before', async () => {
    await publisher.app.broadcast.publish('zulu', 'before')
    return got.length > 0
  }, 15_000, 200)
  const frozen = proxies.reduce((sum, p) => sum + p.freezeSubscribers(), 0)
  // Every shard subscriber link there is (zulu's and the heartbeat's shards) goes silent.
  t.ok(frozen >= 1, `${frozen} shard subscriber links black-holed`)
  await waitUntil('a forced reconnect', () => watched.app.broadcast.stats().forcedReconnects >= 1, 20_000)
  await waitUntil('delivered after', async () => {
    await publisher.app.broadcast.publish('zulu', 'after')
    return got.includes('after')
  }, 20_000, 200)
  t.pass('messages flow again after the forced reconnect')
})
