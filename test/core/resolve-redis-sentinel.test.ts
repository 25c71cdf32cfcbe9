import t from 'tap'
import Fastify from 'fastify'
import { resolveRedis } from '@scaleout/core'
import { RedisSentinelHarness } from '../helpers/index.js'

t.test('resolveRedis with { sentinels, name } finds the primary through a real Sentinel', async (t) => {
  const setup = await RedisSentinelHarness.start()
  t.teardown(async () => await setup.stop())
  const app = Fastify()
  const resolved = await resolveRedis(app, setup.connection, { plugin: '@scaleout/test' })
  t.equal(resolved.owned, true)
  t.equal(resolved.source, 'sentinel')
  t.equal(resolved.isCluster, false)
  t.equal(await resolved.client.set('via-sentinel', 'yes'), 'OK')
  const primary = setup.primaryClient()
  t.teardown(() => primary.disconnect())
  t.equal(await primary.get('via-sentinel'), 'yes', 'the write reached the primary')
  await app.close()
  t.equal(resolved.client.status, 'end')
})
