import t from 'tap'
import { RedisSentinelHarness } from '../helpers/index.js'
import { drill, report } from './drill.js'
import { startInstance } from './fleet.js'

t.test('Sentinel: the primary is killed under load on 3 instances; the fleet carries on without a restart', async (t) => {
  const setup = await RedisSentinelHarness.start({ replicas: 2, sentinels: 3 })
  t.teardown(async () => await setup.stop())
  const instances = []
  for (let i = 0; i < 3; i++) instances.push(await startInstance(t, setup.connection))
  const figures = await drill(t, instances, async () => { await setup.killPrimary() }, async () => { await setup.waitPromotion() })
  report(t, 'Sentinel', figures)
})
