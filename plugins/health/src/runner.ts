import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger } from 'fastify'
import { bound } from './bounds.js'
import { CheckCancelledError, CheckStuckError, CheckTimeoutError, DuplicateCheckError } from './errors.js'
import { describe, fromError, fromValue, statusOf, type Observation } from './observations.js'
import type { CheckSettings } from './options.js'
import type { CheckFunction, CheckResult } from './types.js'

/** Liveness checks look at the process only; readiness reads every check. */
export type Scope = 'liveness' | 'readiness'

export interface Entry {
  readonly name: string
  readonly scope: Scope
  readonly settings: CheckSettings
  readonly check: CheckFunction
  readonly dispose: (() => void) | undefined
  result: CheckResult
  timer: NodeJS.Timeout | undefined
  /** The current run, bookkeeping included; a second caller awaits it instead of starting another. */
  current: Promise<void> | undefined
  /** When set, the check function of an earlier run has not settled even though its run timed out. */
  unsettledSince: number | undefined
  startedAt: number
}

function pending (key: string, critical: boolean): CheckResult {
  return { key, critical, status: 'fail', observations: [{ status: 'fail', output: 'not checked yet', time: new Date().toISOString() }] }
}

/**
 * Runs each check on its own interval, bounded by its timeout, and keeps the last result. Probes
 * only ever read `entries`: nothing a probe does reaches a dependency.
 */
export class CheckRunner {
  readonly entries: Map<string, Entry>
  private running = false
  /** Set by stop(): no run starts after it, so refresh() after close runs nothing. */
  private stopped = false
  /** Ends each run in flight early; stop() calls them so no check outlives the server. */
  private readonly inFlight = new Set<(reason: Error) => void>()
  private readonly changed: () => void
  private readonly log: FastifyBaseLogger

  constructor (entries: Map<string, Entry>, changed: () => void, log: FastifyBaseLogger) {
    this.entries = entries
    this.changed = changed
    this.log = log
  }

  add (name: string, check: CheckFunction, settings: CheckSettings, scope: Scope = 'readiness', dispose?: () => void): void {
    if (this.entries.has(name)) throw new DuplicateCheckError(name)
    const entry: Entry = {
      name,
      scope,
      settings,
      check,
      dispose,
      result: pending(`${name}:${settings.measurement}`, settings.critical),
      timer: undefined,
      current: undefined,
      unsettledSince: undefined,
      startedAt: 0
    }
    this.entries.set(name, entry)
    this.changed()
    if (this.running) this.background(entry)
  }

  /** Runs every check once, then keeps them running on their intervals until `stop()`. */
  async start (): Promise<void> {
    this.running = true
    await this.runAll()
  }

  async runAll (): Promise<void> {
    await Promise.all([...this.entries.values()].map(async (entry) => await this.run(entry)))
  }

  stop (): void {
    this.running = false
    this.stopped = true
    // A run in flight would keep its check going, and its timeout timer (up to 24 h) would hold
    // the process open after close: abort the check and end the run now.
    for (const cancel of this.inFlight) cancel(new CheckCancelledError())
    for (const entry of this.entries.values()) {
      clearTimeout(entry.timer)
      entry.dispose?.()
    }
  }

  /**
   * A run nobody awaits. `execute` turns every failure of a check into a result; should our own
   * bookkeeping still throw, it is logged here: an unhandled rejection would end the process
   * under Node's default, and `run` has already scheduled the next run.
   */
  private background (entry: Entry): void {
    this.run(entry).catch((err: unknown) => { this.log.error({ err, check: entry.name }, 'health check run failed') })
  }

  private async run (entry: Entry): Promise<void> {
    if (entry.current === undefined && !this.stopped) {
      clearTimeout(entry.timer)
      entry.current = this.execute(entry).finally(() => {
        entry.current = undefined
        this.schedule(entry)
      })
    }
    await entry.current
  }

  private schedule (entry: Entry): void {
    if (!this.running) return
    const delay = Math.max(0, entry.settings.interval - (performance.now() - entry.startedAt))
    entry.timer = setTimeout(() => this.background(entry), delay)
    entry.timer.unref()
  }

  private async execute (entry: Entry): Promise<void> {
    const started = performance.now()
    entry.startedAt = started
    let observations: Observation[]
    try {
      if (entry.unsettledSince !== undefined) {
        // Piling a new PING on a hung connection helps nobody; report the hang until it settles.
        const waited = started - entry.unsettledSince
        observations = fromError(new CheckStuckError(Math.round(waited)), waited, new Date().toISOString())
      } else {
        observations = bound(await this.attempt(entry, started))
      }
    } catch (err) {
      // Reading what the check returned threw (a getter, a Proxy): that is a failed check too, not a
      // rejection out of ready(), refresh() or the background loop, nor a stale last result.
      observations = bound(fromError(`check result could not be read: ${describe(err)}`, performance.now() - started, new Date().toISOString()))
    }
    entry.result = { key: entry.result.key, critical: entry.settings.critical, status: statusOf(observations), observations }
    this.changed()
  }

  private async attempt (entry: Entry, started: number): Promise<Observation[]> {
    const { timeout } = entry.settings
    const controller = new AbortController()
    const work = Promise.resolve().then(() => entry.check(controller.signal))
    let timer: NodeJS.Timeout | undefined
    // Assigned by the executor, which runs at once.
    let end!: (reason: Error) => void
    const expiry = new Promise<never>((_resolve, reject) => {
      end = (reason) => {
        clearTimeout(timer)
        controller.abort(reason)
        entry.unsettledSince = started
        work.then(() => { entry.unsettledSince = undefined }, () => { entry.unsettledSince = undefined })
        reject(reason)
      }
      timer = setTimeout(() => end(new CheckTimeoutError(timeout)), timeout)
    })
    this.inFlight.add(end)
    let value: unknown
    try {
      value = await Promise.race([work, expiry])
    } catch (err) {
      return fromError(err, performance.now() - started, new Date().toISOString())
    } finally {
      clearTimeout(timer)
      this.inFlight.delete(end)
    }
    // Outside the try: a throw while reading the value is reported by execute() as such.
    return fromValue(value, performance.now() - started, new Date().toISOString())
  }
}
