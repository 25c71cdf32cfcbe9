import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { waitUntil } from '../test/helpers/index.js'
import { call, login, stream } from './client.js'
import { startStack } from './stack.js'

// Drill 4: Redis goes away under load and comes back. Session routes answer a coded 503 (never a
// 500, never a hang), anonymous routes keep answering 200, readiness fails while liveness passes,
// and everything recovers with no instance restarted.
t.test('Redis restart under load', async (t) => {
  const stack = await startStack('haproxy')
  t.teardown(stack.stop)
  const cookie = await login(stack.lb.url, 'barbara')
  const pids = stack.instances.map((i) => i.running)

  await stack.redis.kill()
  // Wait one health check interval (2s by default) for readiness to notice.
  await waitUntil('readiness to fail on every instance', async () => {
    const codes = await Promise.all(stack.instances.map(async (i) => (await fetch(`${i.url}/health/ready`)).status))
    return codes.every((c) => c === 503)
  }, 10_000, 100)
  const sessionLoad = stream(stack.lb.url, '/api/me', { cookie, concurrency: 2, maxMs: 3000, timeoutMs: 5000 })
  const anonymousLoad = stream(stack.lb.url, '/api/whoami', { concurrency: 2, maxMs: 3000, timeoutMs: 5000 })
  await sleep(3000)
  const [sessions, anonymous] = await Promise.all([sessionLoad.stop(), anonymousLoad.stop()])

  const html = sessions.failures.filter((f) => !f.body.startsWith('{'))
  if (html.length > 0) t.comment(stack.lb.output().split('\n').filter((l) => / 503 /.test(l) && !/SESSION/.test(l)).slice(-10).join('\n'))
  t.equal(sessions.statuses.error, undefined, 'no session request hung or was reset')
  t.equal(sessions.statuses['500'], undefined, 'no 500')
  t.equal(sessions.statuses['503'], sessions.sent, `every session request answered 503 (${sessions.sent})`)
  t.ok(sessions.failures.every((f) => JSON.parse(f.body).code === 'SCALEOUT_ERR_SESSION_UNAVAILABLE'), 'with the session-unavailable code')
  t.equal(anonymous.statuses['200'], anonymous.sent, `every anonymous request answered 200 (${anonymous.sent})`)
  for (const instance of stack.instances) {
    t.equal((await fetch(`${instance.url}/health/live`)).status, 200, `${instance.name} is alive`)
    t.equal((await fetch(`${instance.url}/health/ready`)).status, 503, `${instance.name} is not ready`)
  }

  await stack.redis.restart()
  await waitUntil('readiness to pass again', async () => {
    const codes = await Promise.all(stack.instances.map(async (i) => (await fetch(`${i.url}/health/ready`)).status))
    return codes.every((c) => c === 200)
  }, 15_000, 100)
  // Redis kept nothing on disk, so the old session is simply gone: the user is anonymous, not an error.
  const after = await call(stack.lb.url, '/api/me', { cookie })
  t.equal(after.status, 200)
  t.equal(JSON.parse(after.body).user, null)
  const again = await login(stack.lb.url, 'barbara')
  for (let i = 0; i < 6; i++) {
    const me = await call(stack.lb.url, '/api/me', { cookie: again })
    t.equal(me.status, 200)
    t.equal(JSON.parse(me.body).user, 'barbara')
  }
  t.same(stack.instances.map((i) => i.running), pids, 'no instance was restarted')
  t.comment(`Redis down: ${sessions.sent} session requests all 503, ${anonymous.sent} anonymous requests all 200`)
})
