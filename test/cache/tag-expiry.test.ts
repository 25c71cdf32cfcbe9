import t from 'tap'
import { adminFor, redisFor } from '../helpers/index.js'
import { cacheApp } from './setup.js'

// README, How it works, Keys: `<base>t:<tag>` is "the tag's current token. It is created on first
// use, and its TTL only ever grows (`PEXPIRE GT`)". Read on Redis as PEXPIRETIME, the absolute
// expiry: a PEXPIRE that GT leaves alone does not move it by a single millisecond.

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

const TAG = 'scaleout:cache:json.v1:t:users'
const HOUR = 3_600_000

t.test('a tag key\'s expiry only ever grows: a later entry with a shorter lifetime never shortens it', async (t) => {
  const app = await cacheApp(t, { redis: server.url, l1: false })
  const admin = adminFor(t, server)

  let before = Date.now()
  await app.cache.set('a', 1, { ttl: '1h', staleTtl: '30m', tags: ['users'] })
  let after = Date.now()
  const token = await admin.get(TAG)
  t.type(token, 'string', 'created on first use')
  const first = await admin.pexpiretime(TAG)
  t.ok(first >= before + 1.5 * HOUR && first <= after + 1.5 * HOUR, `lives as long as the entry's ttl + staleTtl (PEXPIRETIME ${first}, set between ${before} and ${after})`)

  // Shorter lifetimes, through set and through wrap: the tag keeps its expiry to the millisecond.
  await app.cache.set('b', 2, { ttl: '1s', tags: ['users'] })
  t.equal(await admin.pexpiretime(TAG), first, 'set with a 1 s ttl left the expiry alone')
  t.equal(await app.cache.wrap('c', () => 3, { ttl: '10m', staleTtl: '10m', tags: ['users'] }), 3)
  t.equal(await admin.pexpiretime(TAG), first, 'wrap with a 20 min lifetime left the expiry alone')
  t.equal(await admin.get(TAG), token, 'and the token')
  t.equal(await app.cache.get('a'), 1, 'so the long entry stays valid')

  // A longer lifetime moves it forward.
  before = Date.now()
  await app.cache.set('d', 4, { ttl: '2h', tags: ['users'] })
  after = Date.now()
  const grown = await admin.pexpiretime(TAG)
  t.ok(grown >= before + 2 * HOUR && grown <= after + 2 * HOUR, `grew to the 2 h entry's lifetime (PEXPIRETIME ${grown})`)
  t.equal(await admin.get(TAG), token, 'same token: growing the expiry invalidates nothing')
  t.same(await Promise.all(['a', 'b', 'c', 'd'].map(async (k) => await app.cache.get(k))), [1, 2, 3, 4])

  await app.cache.set('e', 5, { ttl: '1s', tags: ['users'] })
  t.equal(await admin.pexpiretime(TAG), grown, 'and a shorter one after it still never brings it back')
})
