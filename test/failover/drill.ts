import type { Test } from 'tap'
import { waitUntil } from '../helpers/index.js'
import { CHANNEL, CLIENT_DEADLINE, Load, loginUsers, succeeded, waitRecovered, type Instance } from './fleet.js'

/** How long after the promotion the fleet may take to recover before the drill fails. */
export const RECOVERY_BOUND = 15_000

/** What a request that needs Redis may answer while it is away: coded 503s only. */
const CODES_503 = new Set(['SCALEOUT_ERR_SESSION_UNAVAILABLE', 'SCALEOUT_ERR_REDIS_UNAVAILABLE', 'SCALEOUT_ERR_REDIS_TIMEOUT', 'SCALEOUT_ERR_CACHE_BREAKER_OPEN'])

export interface Figures {
  requests: number
  failed: number
  /** ms from the kill to the promotion the harness saw. */
  promotion: number
  /** ms from the kill to the end of the last failed request. */
  window: number
  /** ms from the promotion to the end of the last failed request (0 when none failed after it). */
  recovery: number
  /** The longest any request took, in ms. */
  slowest: number
  /** Logins acknowledged in the last second before the kill, and how many of them were gone after. */
  lateLogins: number
  lostLogins: number
}

async function get (instance: Instance, key: string): Promise<unknown> {
  return await instance.app.cache.get(key)
}

/**
 * The failover drill both topologies run: steady load on every instance, `kill()` the primary,
 * `promoted()` waits for its replacement; then the assertions of issue 17 and the figures.
 */
export async function drill (t: Test, instances: Instance[], kill: () => Promise<void>, promoted: () => Promise<void>): Promise<Figures> {
  const [a, b, c] = instances as [Instance, Instance, Instance]
  const cookies = await loginUsers(instances, 6)
  // Every instance holds `pre` in L1 before the switch.
  await a.app.cache.set('pre', 1)
  for (const i of instances) t.equal(await get(i, 'pre'), 1)
  await waitUntil('pre in every L1', async () => {
    for (const i of instances) await get(i, 'pre')
    return instances.every((i) => i.app.cache.stats().l1.entries >= 1)
  }, 5000)

  const load = new Load(instances, cookies)
  load.start()
  await waitUntil('load running', () => load.outcomes.filter(succeeded).length >= 60, 20_000)
  const resyncs = instances.map((i) => i.app.cache.stats().bus.resyncs)

  const killedAt = Date.now()
  let promotedAt = 0
  let lastFailure = 0
  try {
    await kill()
    await promoted()
    promotedAt = Date.now()
    lastFailure = await waitRecovered(load, killedAt, instances.length, RECOVERY_BOUND)
  } finally {
    // Before the apps close, whatever happened.
    await load.stop()
  }

  const all = load.outcomes
  t.same(all.filter((o) => o.status === 0), [], `no request went unanswered for ${CLIENT_DEADLINE} ms`)
  t.same(all.filter((o) => o.status !== 200 && o.status !== 503), [], 'no status but 200 and 503: no 500')
  t.same(all.filter((o) => o.status === 503 && o.op !== 'ready' && !CODES_503.has(String(o.code))), [], 'every 503 outside health is coded')
  t.same(all.filter((o) => o.status === 503 && ['login', 'read', 'write'].includes(o.op) && o.code !== 'SCALEOUT_ERR_SESSION_UNAVAILABLE'), [], 'a session route\'s 503 is SCALEOUT_ERR_SESSION_UNAVAILABLE')
  t.comment(`503s seen: ${[...new Set(all.filter((o) => o.status === 503).map((o) => `${o.op}:${o.code ?? '-'}`))].sort().join(' ')}`)
  for (const op of ['anon', 'cacheGet', 'cacheSet', 'publish'] as const) {
    t.same(all.filter((o) => o.op === op && o.status !== 200), [], `${op}: always 200 (Redis is optional for it)`)
  }
  const window = all.filter((o) => o.start >= killedAt)
  for (let i = 0; i < instances.length; i++) {
    t.ok(window.some((o) => o.instance === i && o.op === 'ready' && o.status === 503), `instance ${i}: /health/ready went 503 in the window`)
  }
  t.ok(window.some((o) => !succeeded(o)), 'the load did see the failover')

  // L1: a value set and one invalidated after the switch are seen by every instance.
  await b.app.cache.set('pre', 2)
  await waitUntil('every instance sees pre = 2', async () => (await Promise.all(instances.map(async (i) => await get(i, 'pre')))).every((v) => v === 2), 5000)
  await c.app.cache.del('pre')
  await waitUntil('every instance sees pre deleted', async () => (await Promise.all(instances.map(async (i) => await get(i, 'pre')))).every((v) => v === undefined), 5000)
  // What the load wrote meanwhile: every instance reads the same value of every key.
  for (let k = 0; k < 20; k++) {
    await waitUntil(`k${k} coherent`, async () => {
      const values = await Promise.all(instances.map(async (i) => JSON.stringify(await get(i, `k${k}`))))
      return new Set(values).size === 1
    }, 5000)
  }
  t.ok(instances.every((i, n) => i.app.cache.stats().bus.connected && i.app.cache.stats().bus.resyncs >= (resyncs[n] as number)), 'every invalidation bus is connected again')

  // Broadcast: messages published after recovery reach every instance, once.
  for (const [n, i] of instances.entries()) t.match(await i.app.broadcast.publish(CHANNEL, `after-${n}`), { remote: true })
  for (const [n, i] of instances.entries()) {
    await waitUntil(`instance ${n} got every after-*`, () => [0, 1, 2].every((m) => i.deliveries.some((d) => d.body === `after-${m}`)), 5000)
  }
  // A last message from each: once it arrived, any second copy of the earlier ones would have too.
  for (const [n, i] of instances.entries()) await i.app.broadcast.publish(CHANNEL, `end-${n}`)
  for (const [n, i] of instances.entries()) {
    await waitUntil(`instance ${n} got every end-*`, () => [0, 1, 2].every((m) => i.deliveries.some((d) => d.body === `end-${m}`)), 5000)
    const bodies = i.deliveries.map((d) => d.body)
    t.equal(new Set(bodies).size, bodies.length, `instance ${n}: no message delivered twice (${bodies.length} delivered)`)
  }

  // Sessions: logins acknowledged in the last second before the kill, read back after.
  const late = load.logins.filter((l) => l.ackedAt <= killedAt && l.ackedAt > killedAt - 1000)
  let lost = 0
  for (const [n, login] of late.entries()) {
    const res = await (instances[n % 3] as Instance).app.inject({ url: '/me', headers: { cookie: login.cookie } })
    t.equal(res.statusCode, 200)
    if ((res.json() as { userId: unknown }).userId !== login.userId) lost++
  }
  for (const [n, i] of instances.entries()) {
    t.equal((await i.app.inject('/health/ready')).statusCode, 200, `instance ${n}: ready again`)
  }

  const failed = all.filter((o) => !succeeded(o))
  return {
    requests: all.length,
    failed: failed.length,
    promotion: promotedAt - killedAt,
    window: lastFailure - killedAt,
    recovery: Math.max(0, lastFailure - promotedAt),
    slowest: Math.max(...all.map((o) => o.end - o.start)),
    lateLogins: late.length,
    lostLogins: lost
  }
}

/** One line for the test's output: the figures the READMEs quote. */
export function report (t: Test, name: string, f: Figures): void {
  t.comment(`${name}: ${f.requests} requests, ${f.failed} failed (coded 503 or publish remote:false), promotion ${f.promotion} ms after the kill, ` +
    `last failure ${f.window} ms after the kill = ${f.recovery} ms after the promotion; slowest request ${f.slowest} ms; logins acknowledged in the last second before the kill: ${f.lateLogins}, lost: ${f.lostLogins}`)
}
