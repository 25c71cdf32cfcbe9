import type { InstanceIdentity } from '@scaleout/core'
import type { HealthState } from './state.js'
import type { HealthReport, HealthStatus } from './types.js'

// With the charset given, Fastify does not parse and rebuild the header on every probe.
export const CONTENT_TYPE = 'application/health+json; charset=utf-8'

export interface ProbeAnswer {
  readonly code: 200 | 503
  readonly body: string
}

const answers = new Map<string, ProbeAnswer>()

/** Probe answers are built once per (status, output) and reused: a probe serialises nothing. */
export function answer (status: HealthStatus, output?: string): ProbeAnswer {
  const id = `${status}:${output ?? ''}`
  let found = answers.get(id)
  if (found === undefined) {
    found = Object.freeze({ code: status === 'fail' ? 503 : 200, body: JSON.stringify(output === undefined ? { status } : { status, output }) })
    answers.set(id, found)
  }
  return found
}

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
