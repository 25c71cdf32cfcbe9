import { RedisSentinelHarness, RedisServer } from '../test/helpers/index.js'
import { startHaproxy, startNginx, type Balancer } from './balancers.js'
import { startInstances, type Instance, type RedisTarget } from './instances.js'

/** One real Redis, three example instances, and a real load balancer from deploy/. */
export interface Stack {
  redis: RedisServer
  instances: Instance[]
  lb: Balancer
  stop: () => Promise<void>
}

/** The same, with the instances connected through Sentinel to a primary, two replicas and three Sentinels. */
export interface SentinelStack extends Omit<Stack, 'redis'> {
  sentinel: RedisSentinelHarness
}

async function front (balancer: 'nginx' | 'haproxy', redis: RedisTarget, env: NodeJS.ProcessEnv, stopRedis: () => Promise<void>): Promise<Omit<Stack, 'redis'>> {
  let instances: Instance[] = []
  try {
    instances = await startInstances(3, redis, env)
    const lb = balancer === 'nginx' ? await startNginx(instances.map((i) => i.port)) : await startHaproxy(instances.map((i) => i.port))
    return {
      instances,
      lb,
      stop: async () => {
        await lb.stop()
        await Promise.all(instances.map(async (i) => await i.kill()))
        await stopRedis()
      }
    }
  } catch (err) {
    await Promise.all(instances.map(async (i) => await i.kill()))
    await stopRedis()
    throw err
  }
}

export async function startStack (balancer: 'nginx' | 'haproxy', env: NodeJS.ProcessEnv = {}): Promise<Stack> {
  const redis = await RedisServer.start()
  return { redis, ...await front(balancer, redis.url, env, async () => await redis.stop()) }
}

export async function startSentinelStack (balancer: 'nginx' | 'haproxy', env: NodeJS.ProcessEnv = {}): Promise<SentinelStack> {
  const sentinel = await RedisSentinelHarness.start({ replicas: 2, sentinels: 3 })
  return { sentinel, ...await front(balancer, sentinel.connection, env, async () => await sentinel.stop()) }
}
