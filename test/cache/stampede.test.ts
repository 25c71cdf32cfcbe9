import t from 'tap'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp, keyInGeneration } from './setup.js'

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

t.test('3 instances x 200 concurrent wrap() for one cold key call fn exactly once', async (t) => {
  // lockWait is only the fallback; a long one keeps a slow, loaded machine from reaching it.
  const apps = await Promise.all([0, 1, 2].map(async () => await cacheApp(t, { redis: server.url, lockWait: '30s' })))
  // ready() waits 2 s at most for the invalidation channel: on a loaded machine it may come up
  // later, while fn runs, and a value computed across that resync is not stored (it may predate a
  // clear() the instance missed), so a waiter would compute again.
  await waitUntil('every bus up', () => apps.every((app) => app.cache.stats().bus.connected), 10_000)
  let calls = 0
  // The holder's fn returns only once both other instances wait for its lease, whatever the machine's load.
  const fn = async (): Promise<{ profile: string }> => {
    calls++
    await waitUntil('the two others wait for the lease', () => apps.filter((app) => app.cache.stats().lockWaits === 1).length === 2, 10_000)
    return { profile: 'expensive' }
  }
  const results = await Promise.all(apps.flatMap((app) => Array.from({ length: 200 }, async () => await app.cache.wrap('cold', fn))))
  t.equal(calls, 1)
  t.equal(results.length, 600)
  t.ok(results.every((r) => r.profile === 'expensive'))
  const stats = apps.map((app) => app.cache.stats())
  t.same(stats.map((s) => s.coalesced), [199, 199, 199], 'each instance ran one fill for 200 callers')
  t.same(stats.map((s) => s.computed).sort(), [0, 0, 1])
  t.same(stats.map((s) => s.lockWaits).sort(), [0, 1, 1], 'the two others waited for the lease holder')
  t.same(stats.map((s) => s.lockTimeouts), [0, 0, 0])
})

t.test('a waiter computes itself once lockWait passes (the holder is slow or gone)', async (t) => {
  const a = await cacheApp(t, { redis: server.url, lockWait: '300ms' })
  const admin = adminFor(t, server)
  // A lease held by an instance that died without releasing it.
  t.equal(await a.cache.get('k'), undefined, 'the generation is made')
  const lease = await keyInGeneration(admin, 'k', 'l')
  await admin.set(lease, 'someone-else', 'PX', 60_000)
  let calls = 0
  const started = Date.now()
  t.equal(await a.cache.wrap('k', () => ++calls), 1)
  const elapsed = Date.now() - started
  t.ok(elapsed >= 290, `waited ${elapsed}ms before computing`)
  t.equal(a.cache.stats().lockWaits, 1)
  t.equal(a.cache.stats().lockTimeouts, 1)
  t.equal(await admin.get(lease), 'someone-else', 'never released a lease it does not own')
})

t.test('a waiter takes over when the holder fails (its lease is released)', async (t) => {
  const a = await cacheApp(t, { redis: server.url })
  const b = await cacheApp(t, { redis: server.url })
  let holding = false
  // a's fn runs once a holds the lease; it fails only once b waits for that lease.
  const failing = a.cache.wrap('k', async () => {
    holding = true
    await waitUntil('b waits for the lease', () => b.cache.stats().lockWaits === 1, 10_000)
    throw new Error('origin 500')
  })
  await waitUntil('a holds the lease', () => holding, 10_000)
  let calls = 0
  const waiting = b.cache.wrap('k', () => ++calls)
  await t.rejects(failing, { message: 'origin 500' })
  t.equal(await waiting, 1)
  t.equal(b.cache.stats().lockWaits, 1)
  t.equal(b.cache.stats().lockTimeouts, 0)
})
