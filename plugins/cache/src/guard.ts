import type { FastifyBaseLogger } from 'fastify'
import { bounded } from '@scaleout/core'
import type { Breaker } from './breaker.js'
import type { Counters } from './counters.js'
import { BreakerOpenError } from './errors.js'

/**
 * Every Redis call of the cache goes through here: bounded by the `timeout` option, counted, and skipped
 * while the breaker is open, so a slow or dead Redis costs a request at most `timeout`.
 */
export class Guard {
  constructor (
    /** The bound of every call, in ms. */
    readonly timeoutMs: number,
    private readonly breaker: Breaker | undefined,
    private readonly counters: Counters,
    private readonly log: FastifyBaseLogger
  ) {}

  async call<T> (operation: () => Promise<T>): Promise<T> {
    const breaker = this.breaker
    if (breaker !== undefined && !breaker.allow(Date.now())) {
      this.counters.skipped++
      throw new BreakerOpenError()
    }
    try {
      const result = await bounded(operation(), this.timeoutMs)
      breaker?.success()
      return result
    } catch (err) {
      if ((err as { code?: unknown }).code === 'SCALEOUT_ERR_REDIS_TIMEOUT') this.counters.timeouts++
      else this.counters.redisErrors++
      if (breaker?.failure(Date.now()) === true) {
        this.log.warn({ err, plugin: '@scaleout/cache' }, '@scaleout/cache: Redis keeps failing; skipping it for a cool-off before probing again')
      }
      throw err
    }
  }
}
