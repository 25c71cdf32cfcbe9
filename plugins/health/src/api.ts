import { checkFunction, type InstanceIdentity } from '@scaleout/core'
import type { Drainer } from './drain.js'
import { checkName, checkSettings, PLUGIN } from './options.js'
import { buildReport } from './report.js'
import type { CheckRunner } from './runner.js'
import type { HealthState } from './state.js'
import type { CheckFunction, CheckOptions, HealthApi } from './types.js'

/** `fastify.health`: a view over the runner, the state and the drainer. */
export function createApi (runner: CheckRunner, state: HealthState, drainer: Drainer, identity: InstanceIdentity): HealthApi {
  return Object.freeze({
    identity,
    get draining () { return state.draining },
    get started () { return state.started },
    addCheck: (name: string, check: CheckFunction, options?: CheckOptions) => {
      checkName('name', name)
      runner.add(name, checkFunction<CheckFunction>(PLUGIN, 'check', check), checkSettings('options', options))
    },
    report: () => buildReport(state, identity),
    refresh: async () => {
      await runner.runAll()
      return buildReport(state, identity)
    },
    drain: async (reason = 'drain() called') => await drainer.drain(reason)
  })
}
