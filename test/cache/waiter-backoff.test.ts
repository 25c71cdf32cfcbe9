import t from 'tap'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { cacheApp, keyInGeneration } from './setup.js'

// README, How it works, Stampede: "Waiters wake on that message, or poll with a backoff from 10 ms
// to 200 ms in case the message is lost, and read the value. [...] If the holder is slow or has
// died, each waiter computes on its own after `lockWait`." Counted in Redis commands: each poll is
// one read of the entry (GET) and one more try at the lease (SET NX).

const server = await redisFor(t)
t.beforeEach(async () => await server.flushAll())

/** Polls within `lockWaitMs` when the waits go 10, 20, 40, ... ms up to `capMs`, the last cut at the deadline. */
function polls (lockWaitMs: number, capMs: number): number {
  let waited = 0
  let n = 0
  for (let delay = 10; waited < lockWaitMs; delay = Math.min(delay * 2, capMs), n++) waited += Math.min(delay, lockWaitMs - waited)
  return n
}

t.test('a waiter whose holder died polls with a 10 ms to 200 ms backoff: 19 polls over the default 3 s lockWait, not hundreds', async (t) => {
  t.equal(polls(3000, 200), 19, '10 + 20 + 40 + 80 + 160 ms, then 200 ms waits, the last one cut at 3 s')
  // What a backoff without the 200 ms cap would do: 9 polls in 3 s (10 ms to 1280 ms, then 450 ms).
  t.equal(polls(3000, Infinity), 9)

  const app = await cacheApp(t, { redis: server.url }) // lockWait: the default 3 s
  const admin = adminFor(t, server)
  t.equal(await app.cache.get('other'), undefined, 'the generation is made')
  // A lease held by an instance that died without releasing it, and no message will ever come.
  const lease = await keyInGeneration(admin, 'k', 'l')
  await admin.set(lease, 'someone-else', 'PX', 60_000)

  const { result, commands } = await server.countCommands(async () => await app.cache.wrap('k', () => 'computed'))
  t.equal(result, 'computed')
  t.equal(app.cache.stats().lockWaits, 1)
  t.equal(app.cache.stats().lockTimeouts, 1, 'computed on its own once lockWait passed')

  // One GET before the lease is tried, then one SET NX and one GET per poll; the value is then
  // stored with one SET and its PUBLISH. No release: the lease was never this waiter's.
  const { get = 0, set = 0, ...rest } = commands
  t.same(rest, { publish: 1 })
  const n = get - 1
  t.equal(set, n + 1, 'one lease try per poll, and the final SET')
  // Upper bound: each wait is at least its step of the schedule, so no more polls than the
  // schedule's 19, plus one if a timer fires a millisecond before the deadline. Lower bound: the
  // waits stop growing at 200 ms, which uncapped doubling (9 polls at most) never reaches; it
  // holds unless each poll's two round trips take ~100 ms on top of its wait.
  t.ok(n <= polls(3000, 200) + 1, `${n} polls: the waits grow from 10 ms (a fixed 10 ms poll would make ~300)`)
  t.ok(n >= 13, `${n} polls: the waits stop growing at 200 ms`)
  t.equal(await admin.get(lease), 'someone-else', 'never released a lease it does not own')
})

// "Waiters wake on that message": each message about the key wakes the waiter at once, for one more
// read and one more try at the lease. A waiter woken only by its timer polls at most polls(lockWait)
// + 1 times before lockWait ends; this one polls once per message, more often than that, and still
// never reaches lockWait (it would compute on its own then).
t.test('a waiter wakes on each message about its key, not only on its timer', async (t) => {
  const b = await cacheApp(t, { redis: server.url, lockWait: '5s' })
  const c = await cacheApp(t, { redis: server.url })
  await waitUntil('b\'s bus up', () => b.cache.stats().bus.connected, 5000)
  const admin = adminFor(t, server)
  t.equal(await b.cache.get('other'), undefined, 'the generation is made')
  // A lease held by another instance, which will write the value once c has changed the key 40 times.
  const lease = await keyInGeneration(admin, 'k', 'l')
  await admin.set(lease, 'someone-else', 'PX', 60_000)
  const reads = async (): Promise<number> => (await server.commandStats()).get ?? 0
  const before = await reads()
  let calls = 0
  const waiting = b.cache.wrap('k', () => ++calls)
  await waitUntil('b waits for the lease', () => b.cache.stats().lockWaits === 1, 5000)
  const messages = 40
  t.ok(messages > polls(5000, 200) + 1, `${messages} messages: more than the ${polls(5000, 200) + 1} polls b's timer allows within lockWait`)
  for (let i = 0; i < messages; i++) {
    const seen = await reads()
    await c.cache.del('k') // a DEL and its message, as another instance's write path sends
    await waitUntil(`b read the key again after message ${i + 1}`, async () => await reads() > seen, 5000)
  }
  await c.cache.set('k', 'written by the holder')
  t.equal(await waiting, 'written by the holder')
  t.equal(calls, 0, 'b never computed: it never reached lockWait')
  t.same([b.cache.stats().lockWaits, b.cache.stats().lockTimeouts], [1, 0])
  t.ok(await reads() - before > messages, 'b read the key after every message, and once more for the value')
})
