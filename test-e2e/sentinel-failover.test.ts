import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { rawCommand, waitUntil } from '../test/helpers/index.js'
import { call, login, type Answer } from './client.js'
import { startSentinelStack } from './stack.js'

// Drill 9: the Redis primary behind Sentinel is killed under the session-continuity load. The
// instances ask the Sentinels for the primary (REDIS_SENTINELS), so they follow the promotion on
// their own: requests that need Redis during the window answer a coded 503 (never a 500, never a
// hang), anonymous routes keep answering 200, and every instance serves sessions again with none
// restarted. The figures (requests, 503s, the window, sessions and writes lost) go to the README.

const TIMEOUT_MS = 5000
// "Recovers at all": far above the few seconds it takes, so a loaded machine cannot fail it.
const RECOVERY_BOUND_MS = 60_000

interface Sample { sent: number, at: number, answer?: Answer, error?: string }

/** One client in a loop until `stop()` (or 3 minutes, should a step fail first): every answer with the time it arrived. */
function loop (send: () => Promise<Answer>, pauseMs = 20): { samples: Sample[], stop: () => Promise<void> } {
  const samples: Sample[] = []
  const state = { stopped: false }
  const deadline = Date.now() + 180_000
  const running = (async () => {
    while (!state.stopped && Date.now() < deadline) {
      const sent = Date.now()
      try {
        const answer = await send()
        samples.push({ sent, at: Date.now(), answer })
      } catch (err) {
        samples.push({ sent, at: Date.now(), error: (err as Error).message })
      }
      await sleep(pauseMs)
    }
  })()
  return { samples, stop: async () => { state.stopped = true; await running } }
}

function code (answer: Answer): string | undefined {
  try {
    return (JSON.parse(answer.body) as { code?: string }).code
  } catch {
    return undefined
  }
}

t.test('Sentinel primary killed under the session-continuity load', async (t) => {
  const stack = await startSentinelStack('haproxy')
  t.teardown(stack.stop)
  const lb = stack.lb.url
  const pids = stack.instances.map((i) => i.pid)

  // Long-standing sessions, replicated to both replicas before the load starts.
  const users = ['ada', 'barbara', 'grace']
  const cookies = await Promise.all(users.map(async (name) => await login(lb, name)))
  t.equal(await rawCommand(stack.sentinel.primary.port, 'WAIT 2 5000', 6000), ':2\r\n', 'the logins reached both replicas')

  const sessionLoops = cookies.map((cookie) => loop(async () => await call(lb, '/api/me', { cookie, timeoutMs: TIMEOUT_MS })))
  const anonymousLoop = loop(async () => await call(lb, '/api/whoami', { timeoutMs: TIMEOUT_MS }))
  // Fresh logins all along, to count those acknowledged just before the kill that a failover loses.
  let logins = 0
  const loginLoop = loop(async () => await call(lb, '/login', { method: 'POST', body: { name: `user-${++logins}` }, timeoutMs: TIMEOUT_MS }), 50)
  const loops = [...sessionLoops, anonymousLoop, loginLoop]
  // Readiness as each instance reports it (measured, not asserted: it is re-checked every 2 s).
  const readiness = stack.instances.map((i) => loop(async () => await call(i.url, '/health/ready', { timeoutMs: TIMEOUT_MS }), 100))

  await waitUntil('the load to run on every instance', () =>
    stack.instances.every((i) => sessionLoops.some((l) => l.samples.some((s) => s.answer?.instance === i.name && s.answer.status === 200))), 20_000, 50)
  await sleep(1000)

  const old = await stack.sentinel.killPrimary()
  const killedAt = Date.now()
  const promoted = await stack.sentinel.waitPromotion(RECOVERY_BOUND_MS)
  const promotedAt = Date.now()
  t.not(promoted.port, old.port, `a replica was promoted (${promotedAt - killedAt} ms after the kill)`)

  // Recovered: every instance ready and serving a logged-in request itself, with no restart.
  await waitUntil('every instance to serve sessions on the new primary', async () => {
    const answers = await Promise.all(stack.instances.map(async (i) => [
      (await call(i.url, '/health/ready', { timeoutMs: TIMEOUT_MS })).status,
      (await call(i.url, '/api/me', { cookie: cookies[0], timeoutMs: TIMEOUT_MS })).status
    ]))
    return answers.flat().every((status) => status === 200)
  }, RECOVERY_BOUND_MS, 50)
  const recoveredAt = Date.now()
  // Then a second more of load through HAProxy, all of it answered.
  await sleep(1000)
  await Promise.all([...loops, ...readiness].map(async (l) => await l.stop()))

  const samples = loops.flatMap((l) => l.samples)
  const answered = samples.filter((s) => s.answer !== undefined).map((s) => s.answer as Answer)
  const statuses: Record<number, number> = {}
  for (const answer of answered) statuses[answer.status] = (statuses[answer.status] ?? 0) + 1
  const refused = samples.filter((s) => s.answer !== undefined && s.answer.status !== 200)
  const codes = [...new Set(refused.map((s) => `${s.answer?.status as number} ${code(s.answer as Answer) ?? (s.answer as Answer).body.slice(0, 80)}`))]

  t.same(samples.filter((s) => s.error !== undefined).map((s) => s.error), [], `no request hung past ${TIMEOUT_MS} ms or was reset`)
  t.equal(statuses[500], undefined, 'no 500')
  t.same(codes, refused.length === 0 ? [] : ['503 SCALEOUT_ERR_SESSION_UNAVAILABLE'], 'every refused request is a coded 503')
  t.ok(refused.length > 0, `requests in the window got the coded 503 (${refused.length})`)
  t.ok(anonymousLoop.samples.every((s) => s.answer?.status === 200), `every anonymous request answered 200 (${anonymousLoop.samples.length})`)
  t.same(samples.filter((s) => s.sent > recoveredAt && s.answer?.status !== 200), [], 'after recovery every request is answered 200')
  t.same(stack.instances.map((i) => i.pid), pids, 'no instance was restarted')

  // Sessions written seconds before the kill survive it; writes acknowledged just before may not.
  let countersLost = 0
  for (const [index, l] of sessionLoops.entries()) {
    const bodies = l.samples.filter((s) => s.answer?.status === 200).map((s) => ({ at: s.at, ...JSON.parse((s.answer as Answer).body) as { user: string | null, counter: number } }))
    t.ok(bodies.every((b) => b.user === users[index]), `${users[index] as string} stayed logged in on every instance`)
    const before = Math.max(0, ...bodies.filter((b) => b.at < killedAt).map((b) => b.counter))
    const first = bodies.find((b) => b.at > killedAt)
    countersLost += first === undefined ? 0 : Math.max(0, before - first.counter + 1)
  }
  // Logins acknowledged in the last second before the kill that the new primary does not know.
  const lastSecond = loginLoop.samples.filter((s) => s.answer?.status === 200 && s.at < killedAt && s.at >= killedAt - 1000)
  let loginsLost = 0
  for (const s of lastSecond) {
    const setCookie = (s.answer as Answer).headers['set-cookie']
    const cookie = (Array.isArray(setCookie) ? setCookie[0] as string : setCookie as string).split(';')[0] as string
    const me = await call(lb, '/api/me', { cookie, timeoutMs: TIMEOUT_MS })
    t.equal(me.status, 200, 'a login from just before the kill is answered')
    if ((JSON.parse(me.body) as { user: string | null }).user === null) loginsLost++
  }

  const windowed = refused.map((s) => s.at)
  const unready = readiness.map((l) => l.samples.filter((s) => s.sent > killedAt && s.answer?.status === 503))
  const readyAgain = readiness.map((l, i) => l.samples.find((s) => s.sent > Math.max(killedAt, ...(unready[i] as Sample[]).map((u) => u.at)) && s.answer?.status === 200)?.at)
  const count = (loops: Array<{ samples: Sample[] }>, status: number): number => loops.flatMap((l) => l.samples).filter((s) => s.answer?.status === status).length
  t.comment([
    `requests ${samples.length}: ${JSON.stringify(statuses)}, 503s ${refused.length}, 500s ${statuses[500] ?? 0}, none hung`,
    `session GETs ${sessionLoops.reduce((n, l) => n + l.samples.length, 0)} (${count(sessionLoops, 503)} x 503), logins ${loginLoop.samples.length} (${count([loginLoop], 503)} x 503), anonymous ${anonymousLoop.samples.length} (all 200)`,
    `promotion ${promotedAt - killedAt} ms after the kill; 503s from +${Math.min(...windowed) - killedAt} to +${Math.max(...windowed) - killedAt} ms;`,
    `last 503 ${Math.max(...windowed) - promotedAt} ms after the promotion; every instance serving ${recoveredAt - promotedAt} ms after it`,
    `readiness 503 on ${unready.filter((u) => u.length > 0).length} of ${readiness.length} instances in the window, 200 again at +${readyAgain.map((at) => at === undefined ? '?' : at - promotedAt).join('/')} ms after the promotion`,
    `sessions lost: ${users.length} long-standing 0; logins acknowledged in the last second before the kill ${loginsLost} of ${lastSecond.length}; counter writes lost ${countersLost}`
  ].join('\n'))
})
