import t from 'tap'
import cache from '@scaleout/cache'
import { adminFor, appFor, logSink, RedisClusterHarness, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp, keyInGeneration } from './setup.js'

// A write sends its value, then the message that drops the other instances' L1 copies of the key
// (on a Cluster, SPUBLISH once the SET is done: the two may live on different nodes). When the SET
// landed but the message could not be sent, set() resolved as if all was well, with a log line
// that said the value was not stored, while the other instances went on serving the old value from
// L1. When Redis refuses the message, set() now rejects with the coded Redis error, as del() does
// for an invalidation that did not happen: the caller knows, and can retry.

const UNANNOUNCED = '@scaleout/cache: value written to Redis, but the other instances could not be told; they may serve the old value from L1 until its TTL'

t.test('standalone: a write whose PUBLISH Redis refuses', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const sink = logSink('warn')
  const a = appFor(t, { logger: sink.logger })
  await a.register(cache, { redis: server.url, timeout: 3000, heartbeatInterval: false })
  a.get('/catalog', { config: { cache: { ttl: '60s', maxEntries: 1 } } }, async () => 'catalog')
  await a.ready()
  const b = await cacheApp(t, { redis: server.url })
  await waitUntil('both buses up', () => a.cache.stats().bus.connected && b.cache.stats().bus.connected, 5000)
  await a.cache.set('k', 'old')
  // Retried: a's own message about k may still be on its way and keep b's first read out of L1.
  await waitUntil('b keeps k in L1', async () => {
    t.equal(await b.cache.get('k'), 'old')
    return b.cache.stats().l1.entries === 1
  }, 5000)
  const hits = b.cache.stats().l1.hits
  t.equal(await b.cache.get('k'), 'old')
  t.equal(b.cache.stats().l1.hits, hits + 1, 'b serves k from its L1')

  // A real refusal: the ACL lets this user do everything but PUBLISH (on this test's own server).
  await admin.call('ACL', 'SETUSER', 'default', '-publish')

  await t.rejects(a.cache.set('k', 'new'), { code: 'SCALEOUT_ERR_REDIS_NOPERM', statusCode: 500 }, 'set() rejects: b was not told')
  t.match(await admin.get(await keyInGeneration(admin, 'k')), /\n"new"$/, 'the value is in Redis')
  t.equal(await b.cache.get('k'), 'old', 'b still serves its L1 copy: what the rejection tells the caller')
  t.equal(a.cache.stats().l1.entries, 0, 'a keeps no copy in L1')
  t.equal(await a.cache.get('k'), 'new', 'and reads Redis')

  // wrap() and route responses return their value all the same; the write is logged.
  t.equal(await a.cache.wrap('w', () => 'computed'), 'computed')
  const res = await a.inject('/catalog')
  t.same([res.statusCode, res.body, res.headers['x-cache']], [200, 'catalog', 'miss'])
  t.same(sink.messages(40), [UNANNOUNCED, UNANNOUNCED])
  t.same(sink.lines.map((l) => [l.key, l.routeKey, (l.err as { code?: string }).code]), [
    ['w', undefined, 'SCALEOUT_ERR_REDIS_NOPERM'],
    [undefined, '3:GET8:/catalog4:http12:localhost:80u8:/catalog', 'SCALEOUT_ERR_REDIS_NOPERM']
  ], 'each names its key: an application key as written, a route response\'s as routeKey')
  t.equal((await a.inject('/catalog')).headers['x-cache'], 'hit', 'the response was stored, and is counted (maxEntries 1)')

  // Once Redis takes the message again, a retry tells b.
  await admin.call('ACL', 'SETUSER', 'default', '+publish')
  await a.cache.set('k', 'new')
  await waitUntil('b dropped its copy', async () => await b.cache.get('k') === 'new', 5000)
})

t.test('Cluster: a write whose SPUBLISH the channel\'s node refuses, after its SET landed on another node', async (t) => {
  const cluster = await RedisClusterHarness.start()
  t.teardown(async () => await cluster.stop())
  const channelNode = await cluster.nodeFor('scaleout:cache:json.v1:bus')
  // A key whose entry lives on another node than the channel (the generation is Redis's clock: the
  // key is picked once it is known).
  const a = await cacheApp(t, { redis: { cluster: cluster.urls } })
  const b = await cacheApp(t, { redis: { cluster: cluster.urls } })
  const admin = cluster.client()
  const channelAdmin = channelNode.client()
  t.teardown(() => { admin.disconnect(); channelAdmin.disconnect() })
  await waitUntil('both buses up', () => a.cache.stats().bus.connected && b.cache.stats().bus.connected, 10_000)
  t.equal(await a.cache.get('warm'), undefined)
  const gen = await admin.get('scaleout:cache:json.v1:gen') as string
  let key = ''
  for (let i = 0; key === ''; i++) {
    if ((await cluster.nodeFor(`scaleout:cache:json.v1:${gen}:e:k${i}`)).port !== channelNode.port) key = `k${i}`
  }

  await a.cache.set(key, 'old')
  // Retried: a's own message about the key may still be on its way and keep b's first read out of L1.
  await waitUntil('b keeps the key in L1', async () => {
    t.equal(await b.cache.get(key), 'old')
    return b.cache.stats().l1.entries === 1
  }, 5000)
  const hits = b.cache.stats().l1.hits
  t.equal(await b.cache.get(key), 'old')
  t.equal(b.cache.stats().l1.hits, hits + 1, 'b serves the key from its L1')

  // ACLs are per node: only the channel's node refuses SPUBLISH (this test's own cluster).
  await channelAdmin.call('ACL', 'SETUSER', 'default', '-spublish')
  const { commands } = await cluster.countCommands(async () => {
    await t.rejects(a.cache.set(key, 'new'), { code: 'SCALEOUT_ERR_REDIS_NOPERM', statusCode: 500 }, 'set() rejects: b was not told')
  })
  t.same(commands, { set: 1 }, 'the SET ran; the SPUBLISH was refused before it ran')
  t.match(await admin.get(`scaleout:cache:json.v1:${gen}:e:${key}`), /\n"new"$/, 'the value is in Redis')
  t.equal(await b.cache.get(key), 'old', 'b still serves its L1 copy: what the rejection tells the caller')

  await channelAdmin.call('ACL', 'SETUSER', 'default', '+spublish')
  await a.cache.set(key, 'new')
  await waitUntil('b dropped its copy', async () => await b.cache.get(key) === 'new', 5000)

  // The channel's node hangs (SIGSTOP, well within cluster-node-timeout): the SPUBLISH times out.
  // Redis is away, not refusing: set() fails open, as for any outage, and logs the write. Every
  // instance's subscription is on that node: the message, sent, runs once the node is back (or,
  // were the node gone for good, the others would lose their subscription, which flushes L1).
  const sink = logSink('warn')
  const c = appFor(t, { logger: sink.logger })
  await c.register(cache, { redis: { cluster: cluster.urls }, timeout: 200, heartbeatInterval: false })
  await c.ready()
  await waitUntil('c\'s bus up', () => c.cache.stats().bus.connected, 10_000)
  channelNode.pause()
  try {
    await c.cache.set(key, 'newest')
  } finally {
    channelNode.resume()
  }
  // (The lines before it, if any, are the subscription's start on a Cluster client not yet ready.)
  const writes = sink.lines.filter((l) => String(l.msg).includes('Redis') && !String(l.msg).includes('could not subscribe'))
  t.same(writes.map((l) => [l.msg, l.key, (l.err as { code?: string }).code]), [[UNANNOUNCED, key, 'SCALEOUT_ERR_REDIS_TIMEOUT']])
  t.equal(c.cache.stats().l1.entries, 0, 'c keeps no copy in L1')
  t.match(await admin.get(`scaleout:cache:json.v1:${gen}:e:${key}`), /\n"newest"$/, 'the value is in Redis')
  await waitUntil('b heard the SPUBLISH once the node was back', async () => await b.cache.get(key) === 'newest', 5000)
})
