import t from 'tap'
import { call, login } from './client.js'
import { startStack } from './stack.js'

// Drill 1: logged in once, a user stays logged in on every instance behind either balancer.
for (const balancer of ['haproxy', 'nginx'] as const) {
  t.test(`session continuity through ${balancer}`, async (t) => {
    const stack = await startStack(balancer)
    t.teardown(stack.stop)
    const cookie = await login(stack.lb.url, 'ada')
    const seen: Record<string, number> = {}
    const counters: number[] = []
    for (let i = 0; i < 100; i++) {
      const answer = await call(stack.lb.url, '/api/me', { cookie })
      t.equal(answer.status, 200)
      const body = JSON.parse(answer.body) as { user: string, counter: number, instance: string }
      t.equal(body.user, 'ada', `request ${i} on ${body.instance} sees the session`)
      t.equal(answer.instance, body.instance, 'x-served-by names the instance that answered')
      counters.push(body.counter)
      seen[body.instance] = (seen[body.instance] ?? 0) + 1
    }
    t.same(Object.keys(seen).sort(), ['instance-1', 'instance-2', 'instance-3'], `all three instances served: ${JSON.stringify(seen)}`)
    // Each request bumped the counter stored in Redis: whoever answered saw the previous one's write.
    t.same(counters, Array.from({ length: 100 }, (_, i) => i + 1))
    t.comment(`${balancer}: 100 requests, by instance ${JSON.stringify(seen)}`)

    const logout = await call(stack.lb.url, '/logout', { method: 'POST', cookie })
    t.equal(logout.status, 200)
    for (let i = 0; i < 6; i++) {
      const after = JSON.parse((await call(stack.lb.url, '/api/me', { cookie })).body) as { user: string | null }
      t.equal(after.user, null, 'logged out everywhere')
    }
  })
}
