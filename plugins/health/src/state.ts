import { worst } from './observations.js'
import { answer, type ProbeAnswer } from './answer.js'
import type { Entry } from './runner.js'
import type { HealthStatus } from './types.js'

/** Why a probe fails when no check does: shown as `output` in probe bodies. */
export type Phase = 'starting' | 'running' | 'draining'

/**
 * The statuses the probe routes answer with, recomputed whenever a check result changes so a
 * probe is a couple of property reads.
 */
export class HealthState {
  live: HealthStatus = 'pass'
  readiness: HealthStatus = 'fail'
  phase: Phase = 'starting'
  /** onReady ran and the first run of every check finished. */
  serverReady = false
  started = false
  draining = false
  /** What each probe route sends, rebuilt here rather than per request. */
  liveAnswer: ProbeAnswer = answer('pass')
  readyAnswer: ProbeAnswer = answer('fail', 'starting')
  startupAnswer: ProbeAnswer = answer('fail', 'starting')
  readonly entries: ReadonlyMap<string, Entry>

  constructor (entries: ReadonlyMap<string, Entry>) {
    this.entries = entries
  }

  update (): void {
    let live: HealthStatus = 'pass'
    let all: HealthStatus = 'pass'
    for (const { result, scope } of this.entries.values()) {
      // A failing non-critical check degrades the service to warn; it never takes it out.
      const status = result.status === 'fail' && !result.critical ? 'warn' : result.status
      all = worst(all, status)
      if (scope === 'liveness') live = worst(live, status)
    }
    if (this.serverReady && all !== 'fail') this.started = true
    this.live = live
    this.phase = this.draining ? 'draining' : this.started ? 'running' : 'starting'
    this.readiness = this.phase === 'running' ? all : 'fail'
    this.liveAnswer = answer(live)
    this.readyAnswer = answer(this.readiness, this.phase === 'running' ? undefined : this.phase)
    this.startupAnswer = this.started ? answer('pass') : answer('fail', 'starting')
  }
}
