import { RedisServer } from '../test/helpers/index.js'
import { startHaproxy, startNginx, type Balancer } from './balancers.js'
import { startInstances, type Instance } from './instances.js'

/** One real Redis, three example instances, and a real load balancer from deploy/. */
export interface Stack {
  redis: RedisServer
  instances: Instance[]
  lb: Balancer
  stop: () => Promise<void>
}

export async function startStack (balancer: 'nginx' | 'haproxy', env: NodeJS.ProcessEnv = {}): Promise<Stack> {
  const redis = await RedisServer.start()
  let instances: Instance[] = []
  try {
    instances = await startInstances(3, redis.url, env)
    const lb = balancer === 'nginx' ? await startNginx(instances.map((i) => i.port)) : await startHaproxy(instances.map((i) => i.port))
    return {
      redis,
      instances,
      lb,
      stop: async () => {
        await lb.stop()
        await Promise.all(instances.map(async (i) => await i.kill()))
        await redis.stop()
      }
    }
  } catch (err) {
    await Promise.all(instances.map(async (i) => await i.kill()))
    await redis.stop()
    throw err
  }
}
