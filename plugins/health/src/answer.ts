import type { HealthStatus } from './types.js'

/** What a probe route sends; kept out of report.ts so the state can build answers without importing the report that reads it. */
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
