import t from 'tap'
import { adminFor, FreezingProxy, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// A read of the generation that left for Redis before a clear() and came back after this instance
// heard of it (and forgot its generation) was adopted all the same: the instance went back to the
// cleared namespace and stayed there, serving what clear() had removed while every other instance
// missed. The proxy holds b's replies (the commands still run) while a clears.

const server = await redisFor(t)
const admin = adminFor(t, server)

t.test('regression: a generation read that a clear() overtook put the instance back in the cleared namespace', async (t) => {
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: proxy.url })
  await a.cache.set('k', 'before clear')
  await waitUntil('b heard of the set', () => b.cache.stats().bus.messages === 1, 5000)

  t.ok(proxy.holdReplies() > 0)
  const reading = b.cache.get('k') // b's first call: it reads the generation, and its reply is held
  await waitUntil('the generation read ran in Redis', () => proxy.heldBytes > 0, 5000)
  await a.cache.clear()
  await waitUntil('b heard of the clear', () => b.cache.stats().bus.messages === 2, 5000)
  proxy.releaseReplies()
  await reading // from before the clear: either answer is fine

  t.equal(await a.cache.get('k'), undefined)
  t.equal(await b.cache.get('k'), undefined, 'b reads the namespace clear() made')
  await a.cache.set('k', 'after clear')
  await waitUntil('b heard of the new set', () => b.cache.stats().bus.messages === 3, 5000)
  t.equal(await b.cache.get('k'), 'after clear', 'and shares it with a')
  t.equal(await admin.exists('scaleout:cache:json.v1:gen'), 1)
})
