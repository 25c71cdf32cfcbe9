import { isRedisClient, resolveRedis } from '@scaleout/core'
import type { FastifyInstance } from 'fastify'
import { DuplicateCheckError } from './errors.js'
import { PLUGIN, type Settings } from './options.js'
import { eventLoopDelay, heapUtilization } from './process-checks.js'
import { redisCheck } from './redis-check.js'
import type { CheckRunner } from './runner.js'

/**
 * Whether the app has a Redis the other scaleout plugins would use without a `redis` option: then
 * the health of the service depends on it, so it is checked too.
 */
function redisConfigured (fastify: FastifyInstance): boolean {
  if (fastify.hasDecorator('redis') && isRedisClient((fastify as unknown as { redis: unknown }).redis)) return true
  return (process.env.REDIS_URL ?? '') !== ''
}

/**
 * Adds the user's checks, then the built-in ones. Names are checked for clashes before the Redis
 * connection is made, so a clash never leaves a client behind.
 */
export async function addChecks (fastify: FastifyInstance, runner: CheckRunner, settings: Settings): Promise<void> {
  for (const { name, check, settings: checkSettings } of settings.checks) runner.add(name, check, checkSettings)
  const processCheck = { critical: true, timeout: 1000 }
  if (settings.eventLoopDelay !== false) {
    const { check, dispose } = eventLoopDelay(settings.eventLoopDelay)
    runner.add('eventLoop', check, { ...processCheck, interval: settings.eventLoopDelay.interval, measurement: 'delay' }, 'liveness', dispose)
  }
  if (settings.heap !== false) {
    runner.add('heap', heapUtilization(settings.heap), { ...processCheck, interval: settings.heap.interval, measurement: 'utilization' }, 'liveness')
  }
  if (settings.redis === false) return
  if (settings.redis !== undefined || redisConfigured(fastify)) {
    if (runner.entries.has('redis')) throw new DuplicateCheckError('redis')
    const { client } = await resolveRedis(fastify, settings.redis, { plugin: PLUGIN, timeout: settings.redisCheck.timeout })
    runner.add('redis', redisCheck(client).check, settings.redisCheck)
  }
}
