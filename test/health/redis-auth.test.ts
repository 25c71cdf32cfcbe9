import t from 'tap'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { build } from './fixtures/app.js'

// Regression: a wrong Redis password showed in the health report only as a generic stream error.
t.test('a wrong Redis password: the Redis check says authentication failed', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  await admin.config('SET', 'requirepass', 'the-right-password')

  const { app } = await build(t, { redis: `redis://:a-wrong-password@127.0.0.1:${server.port}`, redisCheck: { interval: 60_000 } })
  await app.ready()

  await waitUntil('the check sees the refused password', async () => {
    const report = await app.health.refresh()
    return report.checks['redis:responseTime']?.[0]?.output === 'Redis authentication failed: check the password (and ACL user) in the Redis URL or options'
  }, 10_000)
  t.match(app.health.report().checks['redis:responseTime'], [{ status: 'fail', componentType: 'datastore', output: 'Redis authentication failed: check the password (and ACL user) in the Redis URL or options' }])
  t.equal((await app.inject('/health/ready')).statusCode, 503)
})
