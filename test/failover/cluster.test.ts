import t from 'tap'
import { RedisClusterHarness, type RedisServer } from '../helpers/index.js'
import { drill, report } from './drill.js'
import { startInstance } from './fleet.js'

t.test('Cluster: the master of the broadcast channel\'s slot is killed under load on 3 instances; its replica takes over, no restart', async (t) => {
  const cluster = await RedisClusterHarness.start(3, 1)
  t.teardown(async () => await cluster.stop())
  const instances = []
  for (let i = 0; i < 3; i++) instances.push(await startInstance(t, { cluster: cluster.urls }))
  let killed: RedisServer | undefined
  const figures = await drill(t, instances, async () => {
    killed = await cluster.killMasterOf('scaleout:broadcast:c:news')
  }, async () => { await cluster.waitPromotion(killed as RedisServer) })
  report(t, 'Cluster', figures)
})
