import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { login, stream } from './client.js'
import { startStack } from './stack.js'

// Drill 3: SIGTERM each instance in turn and start it again, under a steady stream through
// HAProxy. The health plugin fails readiness at once, keeps serving for drainDelay while HAProxy
// takes it out, then closes; HAProxy replays anything that still met a closing instance.
t.test('rolling restart under load: zero failed requests', async (t) => {
  const stack = await startStack('haproxy')
  t.teardown(stack.stop)
  const cookie = await login(stack.lb.url, 'linus')
  const load = stream(stack.lb.url, '/api/me', { cookie, concurrency: 4, maxMs: 120_000, maxRequests: 100_000 })
  await sleep(1000)
  const exitCodes: Array<number | null> = []
  for (const instance of stack.instances) {
    exitCodes.push(await instance.terminate())
    await instance.start()
    // rise 2 x inter 1s: wait until HAProxy sends it traffic again before taking the next one down.
    await sleep(2500)
  }
  const report = await load.stop()
  t.same(exitCodes, [0, 0, 0], 'every instance drained and exited cleanly')
  t.same(report.failures, [], `no failed request (${report.sent} sent)`)
  t.equal(report.statuses['200'], report.sent)
  t.ok(report.bodies.every((b) => (JSON.parse(b) as { user: string }).user === 'linus'), 'the session survived every restart')
  t.comment(`rolling restart: ${report.sent} requests, statuses ${JSON.stringify(report.statuses)}, by instance ${JSON.stringify(report.instances)}`)
})
