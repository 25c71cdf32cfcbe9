import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { login, stream } from './client.js'
import { startStack } from './stack.js'

// Drill 2: kill -9 an instance under a steady stream of GETs through HAProxy. HAProxy's retry-on
// replays the requests that hit the dead instance; its checks take it out within inter x fall.
t.test('an instance killed with SIGKILL under load: no failed GET, no session lost', async (t) => {
  const stack = await startStack('haproxy')
  t.teardown(stack.stop)
  const cookie = await login(stack.lb.url, 'grace')
  const load = stream(stack.lb.url, '/api/me', { cookie, concurrency: 4, maxMs: 30_000 })
  await sleep(1500)
  const victim = stack.instances[1]!
  await victim.kill()
  const killedAt = Date.now()
  // Watch the instance header: once HAProxy marks it down nothing is routed to it at all.
  await sleep(4000)
  const report = await load.stop()
  const lastSeenBodies = report.bodies.slice(-20).map((b) => JSON.parse(b) as { user: string, instance: string })
  t.same(report.failures, [], `no failed request (${report.sent} sent)`)
  t.equal(report.statuses['200'], report.sent)
  t.ok(report.bodies.every((b) => (JSON.parse(b) as { user: string }).user === 'grace'), 'every answer still had the session')
  t.notOk(lastSeenBodies.some((b) => b.instance === victim.name), 'the dead instance no longer serves')
  t.ok(Object.keys(report.instances).length === 3, `all three served before the kill: ${JSON.stringify(report.instances)}`)
  t.comment(`crash drill: ${report.sent} GETs, statuses ${JSON.stringify(report.statuses)}, by instance ${JSON.stringify(report.instances)}, stream ran ${Date.now() - killedAt}ms past the kill`)
})
