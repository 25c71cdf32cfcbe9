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
    if (!this.allow()) throw new BreakerOpenError()
    try {
      return this.succeeded(await bounded(operation(), this.timeoutMs))
    } catch (err) {
      return this.failed(err)
    }
  }

  /**
   * `call` for an operation the core's sender already bounds by the same `timeout` and codes the
   * errors of: no second timer and race, and no async frame of its own, on the read path.
   */
  sent<T> (operation: () => Promise<T>): Promise<T> {
    if (!this.allow()) return Promise.reject(new BreakerOpenError())
    return operation().then(this.succeeded, this.failed) as Promise<T>
  }

  private allow (): boolean {
    if (this.breaker === undefined || this.breaker.allow(Date.now())) return true
    this.counters.skipped++
    return false
  }

  // Arrow properties: passed to then() as they are, made once.
  private readonly succeeded = <T>(result: T): T => {
    this.breaker?.success()
    return result
  }

  private readonly failed = (err: unknown): never => {
    if ((err as { code?: unknown }).code === 'SCALEOUT_ERR_REDIS_TIMEOUT') this.counters.timeouts++
    else this.counters.redisErrors++
    if (this.breaker?.failure(Date.now()) === true) {
      this.log.warn({ err, plugin: '@scaleout/cache' }, '@scaleout/cache: Redis keeps failing; skipping it for a cool-off before probing again')
    }
    throw err
  }
}
