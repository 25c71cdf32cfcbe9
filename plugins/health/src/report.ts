import type { InstanceIdentity } from '@scaleout/core'
import type { HealthState } from './state.js'
import type { HealthReport } from './types.js'

// With the charset given, Fastify does not parse and rebuild the header on every probe.
export const CONTENT_TYPE = 'application/health+json; charset=utf-8'

/** The output probes show while no check is to blame. */
export function phaseOutput (state: HealthState): string | undefined {
  return state.phase === 'running' ? undefined : state.phase
}

/** The full application/health+json report from the cached check results. */
export function buildReport (state: HealthState, identity: InstanceIdentity): HealthReport {
  const checks: HealthReport['checks'] = {}
  for (const { result } of state.entries.values()) checks[result.key] = result.observations
  const output = phaseOutput(state)
  return {
    status: state.readiness,
    ...(output === undefined ? {} : { output }),
    instance: identity.id,
    version: identity.version,
    uptime: Math.floor(process.uptime()),
    checks
  }
}
