import t from 'tap'
import broadcast from '@scaleout/broadcast'
import { appFor, RedisClusterHarness, waitUntil } from '../helpers/index.js'
import { PREFIX } from './helpers.js'

// ioredis copies a Cluster's `redisOptions.keyPrefix` to the Cluster's own `keyPrefix`, and prefixes
// shard channels (SPUBLISH, SSUBSCRIBE) like keys: a prefixed instance would publish on
// `<keyPrefix><prefix>c:<channel>`, a slot other than the unprefixed channel's, and hear no one.
const REFUSED = {
  code: 'SCALEOUT_ERR_INVALID_OPTION',
  message: '@scaleout/broadcast: option `redis` is invalid: expected a client without keyPrefix for sharded pub/sub (ioredis would prefix the shard channels, and no message would be recognised): pass one without it, or sharded: false'
}

t.test('a Cluster keyPrefix, in redisOptions or its own options, is refused for sharded pub/sub and changes no channel for classic pub/sub', async (t) => {
  const cluster = await RedisClusterHarness.start()
  t.teardown(async () => await cluster.stop())

  const yours = cluster.client({ redisOptions: { keyPrefix: 'tenant1:' } })
  t.teardown(() => yours.disconnect())
  for (const [name, redis] of [
    ['your Cluster with redisOptions.keyPrefix', yours],
    ['{ cluster, redisOptions: { keyPrefix } }', { cluster: cluster.urls, redisOptions: { keyPrefix: 'tenant1:' } }],
    ['{ cluster, keyPrefix }', { cluster: cluster.urls, keyPrefix: 'tenant1:' }]
  ] as const) {
    const app = appFor(t)
    app.register(broadcast, { redis: redis as never, heartbeatInterval: false })
    await t.rejects(async () => { await app.ready() }, REFUSED, name)
  }

  // Classic pub/sub: PUBLISH and SUBSCRIBE name no key, so the prefix is not added, and instances
  // with different key prefixes (or none) share every channel.
  const a = appFor(t)
  await a.register(broadcast, { redis: { cluster: cluster.urls, redisOptions: { keyPrefix: 'tenant1:' } }, sharded: false, heartbeatInterval: false })
  const b = appFor(t)
  await b.register(broadcast, { redis: yours, sharded: false, heartbeatInterval: false })
  const c = appFor(t)
  await c.register(broadcast, { redis: { cluster: cluster.urls }, sharded: false, heartbeatInterval: false })
  const seen: Record<string, unknown[]> = { a: [], b: [], c: [] }
  for (const [name, app] of [['a', a], ['b', b], ['c', c]] as const) {
    await app.ready()
    app.broadcast.subscribe('news', (m) => { seen[name]?.push(m) })
  }
  await waitUntil('three subscribers of the unprefixed channel', async () => {
    const replies = await Promise.all(cluster.nodes.map(async (n) => {
      const node = n.client()
      try { return Number((await node.call('PUBSUB', 'NUMSUB', PREFIX + 'c:news') as [string, number])[1]) } finally { node.disconnect() }
    }))
    return replies.reduce((x, y) => x + y, 0) === 3
  }, 15_000, 50)
  t.match(await a.broadcast.publish('news', 'from a'), { remote: true })
  t.match(await c.broadcast.publish('news', 'from c'), { remote: true })
  await waitUntil('delivered everywhere', () => seen.a?.length === 2 && seen.b?.length === 2 && seen.c?.length === 2, 15_000, 20)
  // Sorted: with classic PUBLISH on a Cluster the bus may reorder them (see the README's "Order on a Cluster").
  for (const name of ['a', 'b', 'c']) t.same((seen[name] as string[]).sort(), ['from a', 'from c'], `${name} heard both`)
})
