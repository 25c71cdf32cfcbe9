import t from 'tap'
import { redisFor, sleep, waitUntil } from '../helpers/index.js'
import { cacheApp } from './setup.js'

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

for (const l1 of [true, false]) {
  t.test(`stale-while-revalidate (L1 ${l1 ? 'on' : 'off'}): the old value is served at once while one refresh runs`, async (t) => {
    const app = await cacheApp(t, { redis: server.url, l1 })
    let version = 0
    let refreshes = 0
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => { release = resolve })
    const fn = async (): Promise<number> => {
      refreshes++
      if (version > 0) await gate
      return ++version
    }
    t.equal(await app.cache.wrap('k', fn, { ttl: '200ms', staleTtl: '10s' }), 1)
    await sleep(250) // past the 200 ms ttl: expiry reads the clock, there is no event to wait for
    // The refresh is held at the gate: these resolve only because they do not wait for it.
    const served = await Promise.all(Array.from({ length: 20 }, async () => await app.cache.wrap('k', fn, { ttl: '200ms', staleTtl: '10s' })))
    t.same(new Set(served), new Set([1]), 'every caller got the stale value')
    t.equal(version, 1, 'while the refresh was still running')
    release()
    await waitUntil('refreshed', async () => await app.cache.get('k') === 2, 5000)
    t.equal(refreshes, 2, 'one refresh for twenty stale reads')
    t.ok(app.cache.stats().staleServed >= 1)
    t.equal(await app.cache.wrap('k', fn, { ttl: '200ms', staleTtl: '10s' }), 2)
  })
}

t.test('grace: while fn keeps failing the stale value keeps being served until staleTtl ends', async (t) => {
  const app = await cacheApp(t, { redis: server.url, ttl: '150ms', staleTtl: '600ms' })
  let failing = false
  const fn = async (): Promise<string> => {
    if (failing) throw new Error('origin down')
    return 'good'
  }
  t.equal(await app.cache.wrap('k', fn), 'good')
  failing = true
  await sleep(200) // past the 150 ms ttl
  t.equal(await app.cache.wrap('k', fn), 'good', 'stale served')
  await waitUntil('the refresh failed', async () => app.cache.stats().refreshErrors === 1, 5000)
  t.equal(await app.cache.wrap('k', fn), 'good', 'still stale after the failed refresh')
  await waitUntil('the second refresh failed', async () => app.cache.stats().refreshErrors === 2, 5000)
  await sleep(600) // past the 600 ms stale window, which began 150 ms after the write
  await t.rejects(app.cache.wrap('k', fn), { message: 'origin down' }, 'after the stale window, the error surfaces')
})

t.test('get() never returns a stale value; only wrap does', async (t) => {
  const app = await cacheApp(t, { redis: server.url, ttl: '100ms', staleTtl: '10s' })
  await app.cache.set('k', 'v')
  await sleep(150) // past the 100 ms ttl
  t.equal(await app.cache.get('k'), undefined)
})

t.test('only one instance refreshes a stale entry: the others keep serving it', async (t) => {
  const a = await cacheApp(t, { redis: server.url, l1: false })
  const b = await cacheApp(t, { redis: server.url, l1: false })
  let calls = 0
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const fn = async (): Promise<number> => {
    calls++
    await gate
    return calls
  }
  await a.cache.set('k', 0, { ttl: '50ms', staleTtl: '10s' })
  await sleep(80) // past the 50 ms ttl: the entry is stale
  const setsBefore = (await server.commandStats()).set ?? 0
  t.same(await Promise.all([a.cache.wrap('k', fn), b.cache.wrap('k', fn)]), [0, 0])
  // Each instance asks for the refresh lease (one SET NX each); the holder keeps it until fn returns.
  await waitUntil('both asked for the lease, and the holder refreshes', async () => ((await server.commandStats()).set ?? 0) - setsBefore === 2 && calls === 1, 5000)
  release()
  await waitUntil('refreshed', async () => await a.cache.get('k') === 1, 5000)
  t.equal(calls, 1)
})

t.test('a stale L1 value is served and refreshed without Redis while Redis hangs', async (t) => {
  const local = await redisFor(t)
  // A paused server must be resumed before it can stop (teardowns run last added, first).
  t.teardown(() => local.resume())
  const app = await cacheApp(t, { redis: local.url, timeout: 500, breaker: false })
  let calls = 0
  const fn = async (): Promise<number> => ++calls
  t.equal(await app.cache.wrap('k', fn, { ttl: '100ms', staleTtl: '1m' }), 1)
  await sleep(150) // past the 100 ms ttl
  local.pause()
  t.equal(await app.cache.wrap('k', fn, { ttl: '100ms', staleTtl: '1m' }), 1, 'stale from L1')
  await waitUntil('refreshed without a lease', async () => calls === 2, 5000)
  t.equal(app.cache.stats().refreshErrors, 0)
})
