import t from 'tap'
import { MAX_TIMER_MS } from '@scaleout/core'
import { adminFor, redisFor, sleep, waitUntil } from '../helpers/index.js'
import { cacheApp, keyInGeneration } from './setup.js'

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

t.test('set, get and del round-trip through Redis under the namespaced key', async (t) => {
  const app = await cacheApp(t, { redis: server.url, prefix: 'app:' })
  t.equal(await app.cache.get('user:1'), undefined)
  await app.cache.set('user:1', { id: 1, name: 'Ada' }, { ttl: '30s' })
  t.same(await app.cache.get('user:1'), { id: 1, name: 'Ada' })

  const admin = adminFor(t, server)
  const entry = await keyInGeneration(admin, 'user:1', 'e', 'app:json.v1:')
  t.same((await admin.keys('app:*')).sort(), [entry, 'app:json.v1:gen'])
  const raw = await admin.get(entry) as string
  const [header, body] = raw.split('\n')
  const [expiresAt, staleUntil] = JSON.parse(header as string) as number[]
  t.equal(body, '{"id":1,"name":"Ada"}')
  t.equal(staleUntil, expiresAt)
  const pttl = await admin.pttl(entry)
  t.ok(pttl > 25_000 && pttl <= 30_000, `PTTL ${pttl}`)

  await app.cache.del('user:1')
  t.equal(await app.cache.get('user:1'), undefined)
  t.same(await admin.keys('app:*'), ['app:json.v1:gen'])
})

t.test('an L2 hit of an untagged entry costs exactly one GET', async (t) => {
  const writer = await cacheApp(t, { redis: server.url })
  const reader = await cacheApp(t, { redis: server.url, l1: false })
  await writer.cache.set('k', [1, 2, 3])
  await reader.cache.get('k') // learns the generation
  const { result, commands, total } = await server.countCommands(async () => await reader.cache.get('k'))
  t.same(result, [1, 2, 3])
  t.same(commands, { get: 1 })
  t.equal(total, 1)
})

t.test('a wrap miss costs a GET, the lease SET NX, the SET and its PUBLISH, and the release script', async (t) => {
  const app = await cacheApp(t, { redis: server.url, l1: false })
  const admin = adminFor(t, server)
  await app.cache.get('other') // learns the generation
  const { result, commands } = await server.countCommands(async () => {
    const value = await app.cache.wrap('m', () => 1)
    // The release is not waited for by wrap(): wait for it to reach Redis.
    await waitUntil('lease released', async () => (await admin.keys('*:l:*')).length === 0, 5000)
    return value
  })
  t.equal(result, 1)
  const { keys, ...rest } = commands
  t.ok(keys !== undefined && keys >= 1, 'the wait looked at the lease')
  // Five commands: GET, the lease SET NX, SET, PUBLISH, and the release script (EVAL the first time
  // on a connection), whose own GET and DEL Redis counts as well.
  t.same(rest, { get: 2, set: 2, publish: 1, eval: 1, del: 1 })
})

t.test('an L1 hit costs no Redis command at all', async (t) => {
  const app = await cacheApp(t, { redis: server.url })
  await app.cache.set('k', 'v')
  const { result, total } = await server.countCommands(async () => await app.cache.get('k'))
  t.equal(result, 'v')
  t.equal(total, 0)
  const stats = app.cache.stats()
  t.equal(stats.l1.hits, 1)
  t.equal(stats.l1.entries, 1)
  t.equal(stats.l1.bytes, 3)
})

t.test('entries expire after their TTL in both tiers', async (t) => {
  const app = await cacheApp(t, { redis: server.url, ttl: '300ms' })
  await app.cache.set('k', 'v')
  t.equal(await app.cache.get('k'), 'v')
  await sleep(450) // past the 300 ms ttl: expiry reads the clock, there is no event to wait for
  t.equal(await app.cache.get('k'), undefined)
  t.equal(app.cache.stats().l1.entries, 0)
})

t.test('a TTL longer than any timer (30 days) is stored exactly and arms no timer', async (t) => {
  const app = await cacheApp(t, { redis: server.url })
  const thirtyDays = 30 * 86_400_000
  t.ok(thirtyDays > MAX_TIMER_MS)
  const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  await app.cache.set('long', 'kept', { ttl: '30d' })
  const after = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  t.equal(after, before, 'no timer left behind by set')
  t.equal(await app.cache.get('long'), 'kept')
  const admin = adminFor(t, server)
  const pttl = await admin.pttl(await keyInGeneration(admin, 'long'))
  t.ok(pttl > thirtyDays - 60_000 && pttl <= thirtyDays, `PTTL ${pttl}`)
})

t.test('L1 is bounded by entries and bytes, least recently used first', async (t) => {
  const app = await cacheApp(t, { redis: server.url, l1: { maxEntries: 2, maxBytes: 20 } })
  await app.cache.set('a', 'aaaa') // 6 bytes encoded
  await app.cache.set('b', 'bbbb')
  await app.cache.get('a') // a is now the most recent
  await app.cache.set('c', 'cccc')
  let stats = app.cache.stats()
  t.equal(stats.l1.entries, 2)
  t.equal(stats.l1.evictions, 1)
  const { total } = await server.countCommands(async () => {
    t.equal(await app.cache.get('a'), 'aaaa')
    t.equal(await app.cache.get('c'), 'cccc')
  })
  t.equal(total, 0, 'a and c stayed in L1')
  await app.cache.set('big', 'x'.repeat(30))
  stats = app.cache.stats()
  t.equal(stats.l1.entries, 2, 'a value larger than L1 never enters it')
  t.equal(await app.cache.get('big'), 'x'.repeat(30), 'but it is in Redis')
  await app.cache.set('d', 'x'.repeat(15)) // 17 bytes: pushes the others out by bytes
  stats = app.cache.stats()
  t.equal(stats.l1.entries, 1)
  t.equal(stats.l1.bytes, 17)
  // Counted in bytes, as a value read from Redis is: 8 characters, 26 bytes, over the 20 allowed.
  await app.cache.set('wide', '€€€€€€€€')
  stats = app.cache.stats()
  t.same([stats.l1.entries, stats.l1.bytes], [1, 17], 'a set() value over the byte bound stays out of L1, whatever its length in characters')
  t.equal(await app.cache.get('wide'), '€€€€€€€€')
  t.same([app.cache.stats().l1.entries, app.cache.stats().l1.bytes], [1, 17], 'and so does the same value read from Redis')
})

t.test('l1.ttl keeps L1 copies shorter than the entry', async (t) => {
  const app = await cacheApp(t, { redis: server.url, l1: { ttl: '200ms' } })
  await app.cache.set('k', 'v', { ttl: '60s' })
  await sleep(300) // past the 200 ms l1.ttl
  const { result, commands } = await server.countCommands(async () => await app.cache.get('k'))
  t.equal(result, 'v')
  t.same(commands, { get: 1 }, 'L1 copy had expired; Redis still had the entry')
})

t.test('wrap computes once, stores with tags, then serves from the cache', async (t) => {
  const app = await cacheApp(t, { redis: server.url })
  let calls = 0
  const fn = async (): Promise<{ n: number }> => ({ n: ++calls })
  t.same(await app.cache.wrap('w', fn, { ttl: '10s', tags: ['users'] }), { n: 1 })
  t.same(await app.cache.wrap('w', fn), { n: 1 })
  t.equal(calls, 1)
  const stats = app.cache.stats()
  t.equal(stats.computed, 1)
  t.equal(stats.l2.misses, 1)
  t.equal(stats.l1.hits, 1)
})

t.test('wrap returns a value it cannot store, logs it and counts it', async (t) => {
  const app = await cacheApp(t, { redis: server.url, maxBytes: 10 })
  t.equal(await app.cache.wrap('big', () => 'x'.repeat(100)), 'x'.repeat(100))
  t.equal(await app.cache.wrap('undef', () => undefined), undefined)
  t.equal(app.cache.stats().storeErrors, 2)
  t.equal(await app.cache.get('big'), undefined)
})

t.test('wrap propagates the error of fn to every coalesced caller and frees the lease', async (t) => {
  const app = await cacheApp(t, { redis: server.url })
  let calls = 0
  const fn = async (): Promise<never> => {
    calls++
    throw new Error('db down')
  }
  // Both calls start in the same tick: the second joins the first's computation.
  const results = await Promise.allSettled([app.cache.wrap('e', fn), app.cache.wrap('e', fn)])
  t.same(results.map((r) => r.status), ['rejected', 'rejected'])
  t.equal((results[0] as PromiseRejectedResult).reason.message, 'db down')
  t.equal(calls, 1)
  t.equal(app.cache.stats().coalesced, 1)
  const admin = adminFor(t, server)
  // The release is not waited for by wrap(): wait for it to reach Redis.
  await waitUntil('lease released', async () => (await admin.keys('*:l:*')).length === 0, 5000)
  t.equal(await app.cache.wrap('e', () => 'ok'), 'ok', 'the next call computes again')
})

t.test('tags: invalidating one tag drops every entry that carries it, in one DEL', async (t) => {
  const app = await cacheApp(t, { redis: server.url, l1: false })
  await app.cache.set('a', 1, { tags: ['t1', 't2'] })
  await app.cache.set('b', 2, { tags: ['t2'] })
  await app.cache.set('c', 3, { tags: ['t3'] })
  t.equal(await app.cache.get('a'), 1)
  const { commands } = await server.countCommands(async () => await app.cache.invalidateTags(['t2']))
  t.same(commands, { del: 1, publish: 1 })
  t.equal(await app.cache.get('a'), undefined)
  t.equal(await app.cache.get('b'), undefined)
  t.equal(await app.cache.get('c'), 3)
  await app.cache.set('a', 10, { tags: ['t2'] })
  t.equal(await app.cache.get('a'), 10, 'a new entry with the tag is valid again')
  await app.cache.invalidateTags([])
  t.equal(await app.cache.get('a'), 10)
})

t.test('tags: an invalidation while wrap computes makes the stored entry invalid (no stale write-back)', async (t) => {
  const app = await cacheApp(t, { redis: server.url, l1: false })
  const admin = adminFor(t, server)
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const pending = app.cache.wrap('k', async () => { await gate; return 'old' }, { tags: ['t'] })
  // wrap reads the tag's token before fn runs: wait until that token exists, then invalidate.
  await waitUntil('the tag token was read', async () => await admin.exists('scaleout:cache:json.v1:t:t') === 1, 5000)
  await app.cache.invalidateTags(['t'])
  release()
  t.equal(await pending, 'old')
  t.equal(await app.cache.get('k'), undefined)
})

t.test('clear() moves to a new generation without KEYS or FLUSHALL', async (t) => {
  const app = await cacheApp(t, { redis: server.url })
  await app.cache.set('a', 1)
  const admin = adminFor(t, server)
  const first = await keyInGeneration(admin, 'a')
  const { commands } = await server.countCommands(async () => await app.cache.clear())
  // One script (EVAL the first time on a connection): the clock, the current value, and the new
  // one written (SET of the clock, or INCR when several clears share a millisecond).
  const { set, incr, ...rest } = commands
  t.same(rest, { eval: 1, time: 1, get: 1, publish: 1 })
  t.equal((set ?? 0) + (incr ?? 0), 1)
  t.equal(await app.cache.get('a'), undefined)
  await app.cache.set('a', 2)
  t.equal(await app.cache.get('a'), 2)
  t.same((await admin.keys('*:e:*')).sort(), [first, await keyInGeneration(admin, 'a')].sort())
})

t.test('the codec name and schema version are part of the key prefix', async (t) => {
  const v1 = await cacheApp(t, { redis: server.url, version: 1, l1: false })
  const v2 = await cacheApp(t, { redis: server.url, version: 'users-2', l1: false })
  await v1.cache.set('u', { name: 'old shape' })
  t.equal(await v2.cache.get('u'), undefined, 'a deploy with a new version never reads old-shaped entries')
  await v2.cache.set('u', { fullName: 'new shape' })
  t.same(await v1.cache.get('u'), { name: 'old shape' })
})

t.test('bad keys and per-call options get coded errors', async (t) => {
  const app = await cacheApp(t, { redis: server.url })
  await t.rejects(app.cache.get(''), { code: 'SCALEOUT_ERR_CACHE_KEY', message: '@scaleout/cache: key must be a non-empty string of at most 1024 characters, with no lone surrogate' })
  await t.rejects(app.cache.set('k'.repeat(1025), 1), { code: 'SCALEOUT_ERR_CACHE_KEY' })
  await t.rejects(app.cache.del(42 as unknown as string), { code: 'SCALEOUT_ERR_CACHE_KEY' })
  await t.rejects(app.cache.wrap('k', () => 1, { ttl: -1 }), { code: 'SCALEOUT_ERR_CACHE_OPTION', message: /ttl is invalid/ })
  await t.rejects(app.cache.set('k', 1, { staleTtl: 'soon' }), { code: 'SCALEOUT_ERR_CACHE_OPTION', message: /staleTtl is invalid/ })
  await t.rejects(app.cache.set('k', 1, { tags: 'a' as unknown as string[] }), { code: 'SCALEOUT_ERR_CACHE_OPTION', message: '@scaleout/cache: tags is invalid: expected an array of strings' })
  // Every instance refuses an invalidation message of more: more could never reach their L1.
  const many = Array.from({ length: 1001 }, (_, i) => `t${i}`)
  await t.rejects(app.cache.invalidateTags(many), { code: 'SCALEOUT_ERR_CACHE_OPTION', message: '@scaleout/cache: tags is invalid: expected at most 1000 tags (got 1001)' })
  await t.rejects(app.cache.set('k', 1, { tags: many }), { code: 'SCALEOUT_ERR_CACHE_OPTION', message: '@scaleout/cache: tags is invalid: expected at most 1000 tags (got 1001)' })
  await t.rejects(app.cache.invalidateTags(['']), { code: 'SCALEOUT_ERR_CACHE_KEY', message: /a tag must be/ })
  await t.rejects(app.cache.set('k', 1, { tll: 60 } as unknown as { ttl: number }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/cache: option `set().tll` is invalid: expected no such option: did you mean `ttl`? the options are ttl, staleTtl, tags' })
  await t.rejects(app.cache.wrap('k', () => 1, { tag: ['a'] } as unknown as { tags: string[] }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `wrap\(\)\.tag` is invalid: expected no such option: did you mean `tags`\?/ })
  await t.rejects(app.cache.set('k', 1, 'soon' as unknown as { ttl: string }), { code: 'SCALEOUT_ERR_CACHE_OPTION', message: '@scaleout/cache: set() options is invalid: expected an object { ttl?, staleTtl?, tags? }' })
  t.equal(await app.cache.get('k'), undefined, 'nothing was stored')
})

t.test('concurrent first calls share one read of the namespace generation', async (t) => {
  const app = await cacheApp(t, { redis: server.url, l1: false })
  const { result, commands } = await server.countCommands(async () => await Promise.all([app.cache.get('a'), app.cache.get('b'), app.cache.get('c')]))
  t.same(result, [undefined, undefined, undefined])
  t.same(commands, { eval: 1, get: 4, time: 1, set: 1 }, 'one script making the generation, one GET per key')
})
