import t from 'tap'
import cache from '@scaleout/cache'
import type { FastifyInstance } from 'fastify'
import { appFor, RedisClusterHarness, type RedisServer, waitUntil } from '../helpers/index.js'

const NAME = 'l1drill'
const KEYS = Array.from({ length: 12 }, (_, i) => `p${i}`)

// Regression: on a Cluster the bus was a classic SUBSCRIBE, which ioredis moves to another node on
// its own, with no event on the Cluster, when its node dies; the heartbeat then heard its pings again
// and saw no loss, so invalidations of the gap were missed and L1 copies stayed stale until their
// TTL. The bus is now sharded and a shard subscriber's end counts as a loss. This kills the node
// holding every bus subscription, changes every key meanwhile, and wants every L1 coherent well
// before any TTL.
t.test('Cluster: the node holding the invalidation subscriptions is killed; no instance keeps a stale L1 copy', async (t) => {
  const cluster = await RedisClusterHarness.start(3, 1)
  t.teardown(async () => await cluster.stop())
  const start = async (l1: boolean): Promise<FastifyInstance> => {
    const app = appFor(t)
    // Entries live far beyond the test: only the bus can make a stale copy go.
    await app.register(cache, { redis: { cluster: cluster.urls, redisOptions: { connectionName: NAME } }, ttl: '1h', timeout: 1000, heartbeatInterval: 500, ...(l1 ? {} : { l1: false }) })
    await app.ready()
    return app
  }
  const instances = [await start(true), await start(true), await start(true)]
  const truth = await start(false) // reads Redis only
  for (const key of KEYS) await (instances[0] as FastifyInstance).cache.set(key, 1)
  for (const app of instances) for (const key of KEYS) t.equal(await app.cache.get(key), 1)
  await waitUntil('every key in every L1', async () => {
    for (const app of instances) for (const key of KEYS) await app.cache.get(key)
    return instances.every((app) => app.cache.stats().l1.entries === KEYS.length)
  }, 10_000)

  // The node with the most shard (SSUBSCRIBE) connections: only the cache buses subscribe here.
  let target: RedisServer | undefined
  let most = 0
  for (const node of cluster.nodes) {
    const admin = node.client()
    const lines = (await admin.client('LIST') as string).split('\n').filter((l) => / ssub=[1-9]/.test(l))
    admin.disconnect()
    if (lines.length > most) {
      most = lines.length
      target = node
    }
  }
  t.ok(target !== undefined && most >= 3, `${most} of the 3 bus subscribers on ${target?.port}`)
  const node = target as RedisServer
  const wasMaster = (await cluster.topology()).find((l) => l.port === node.port)?.role === 'master'
  t.comment(`killing ${wasMaster ? 'master' : 'replica'} ${node.port}`)
  if (wasMaster) {
    // killMasterOf needs a key of its: any slot it serves.
    const line = (await cluster.topology()).find((l) => l.port === node.port)
    await cluster.killMasterOf(`{${await keyInSlot(cluster, line?.slots[0]?.[0] as number)}}`)
  } else {
    await node.kill()
  }
  // Changed while the subscription is down: some of these land, some fail with their slot's master.
  for (const [i, key] of KEYS.entries()) await (instances[i % 3] as FastifyInstance).cache.set(key, 2)
  if (wasMaster) await cluster.waitPromotion(node)
  await waitUntil('every bus connected again', () => instances.every((app) => app.cache.stats().bus.connected), 15_000)
  // Every key holds 1 or 2 in Redis; undefined is a read that failed open while its slot moved.
  const expected: unknown[] = []
  for (const key of KEYS) {
    let value: unknown
    await waitUntil(`${key}: Redis answers through the truth instance`, async () => {
      value = await truth.cache.get(key)
      return value !== undefined
    }, 15_000)
    expected.push(value)
  }
  t.ok(expected.includes(2), 'some writes of the window landed')
  for (const [k, key] of KEYS.entries()) {
    await waitUntil(`${key}: every instance reads what Redis holds (${JSON.stringify(expected[k])})`, async () =>
      (await Promise.all(instances.map(async (app) => await app.cache.get(key)))).every((v) => v === expected[k]), 5000)
  }
  t.pass('every instance coherent with Redis after the switch')
})

/** A hash tag whose slot is `slot`. */
async function keyInSlot (cluster: RedisClusterHarness, slot: number): Promise<string> {
  const admin = cluster.nodes.find((n) => n.running)?.client() as NonNullable<ReturnType<RedisServer['client']>>
  try {
    for (let i = 0; ; i++) {
      if (Number(await admin.cluster('KEYSLOT', `t${i}`)) === slot) return `t${i}`
    }
  } finally {
    admin.disconnect()
  }
}
