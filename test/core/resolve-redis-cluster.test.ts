import t from 'tap'
import Fastify from 'fastify'
import { Cluster } from 'ioredis'
import { luaScript, resolveRedis, senderFor, taggedKey, type RedisClient } from '@scaleout/core'
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

  // A Cluster stays on the routed path (client.call(), defineCommand, bounded()): the slot decides
  // the node, and a command may wait for a slot refresh before any node's timer starts.
  t.test('senderFor on a Cluster, ours or the app\'s: scripts as ioredis sends them, a paused node bounded and coded', async (t) => {
    const ECHO = luaScript('scaleoutTestClusterEcho', 1, "redis.call('SET', KEYS[1], ARGV[1]) return tonumber(ARGV[2])")
    const app = Fastify()
    t.teardown(async () => await app.close())
    const ours = await resolveRedis(app, { cluster: cluster.urls }, { plugin })
    const theirs = cluster.client()
    t.teardown(() => theirs.disconnect())
    await theirs.ping()
    t.equal(theirs.options.redisOptions?.commandTimeout, undefined, 'the app\'s Cluster has no command timeout')
    for (const [name, client, owned] of [['ours', ours.client, true], ['the app\'s', theirs, false]] as Array<[string, RedisClient, boolean]>) {
      const send = senderFor(client, owned, 300, [ECHO])
      const key = taggedKey('app:', owned ? 'ours' : 'theirs', 'k')
      t.equal(await send.command('get', [key]), null, 'the connection to the key\'s node is open')
      const first = await cluster.countCommands(async () => await send.script(ECHO, [key], ['one', 1]))
      t.equal(first.result, 1)
      t.same(first.commands, { eval: 1, set: 1 }, `${name}: the script itself first`)
      const second = await cluster.countCommands(async () => await send.script(ECHO, [key], ['two', 2]))
      t.same(second.commands, { evalsha: 1, set: 1 }, `${name}: then its digest`)
      t.equal(await send.command('get', [key]), 'two')
      const node = await cluster.nodeFor(key)
      node.pause()
      await t.rejects(send.command('get', [key]), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', message: 'Redis did not answer within 300ms' }, `${name}: a paused node`)
      node.resume()
      t.equal(await send.command('get', [key]), 'two')
    }
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
