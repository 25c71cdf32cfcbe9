import type { Scenario, Target, VariantResult } from './types.js'

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

function pad (text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width)
}

/** The table printed for one scenario: every variant with its ratio to bare Fastify from the same run. */
export function formatTable (scenario: Scenario, results: VariantResult[]): string {
  const nameWidth = Math.max(...results.map((r) => r.name.length), 7)
  const header = `${pad('variant', nameWidth)}  ${pad('req/s', 9, true)}  ${pad('p50 ms', 7, true)}  ${pad('p99 ms', 7, true)}  ${pad('errors', 6, true)}  ${pad('non2xx', 6, true)}  ${pad('x bare', 6, true)}  ${pad('redis cmd/req', 13, true)}  ${pad('redis µs/req', 12, true)}`
  const lines = [`## ${scenario.name}: ${scenario.description}`, header, '-'.repeat(header.length)]
  for (const r of results) {
    lines.push(`${pad(r.name, nameWidth)}  ${pad(r.requestsPerSec.toFixed(0), 9, true)}  ${pad(r.p50.toFixed(2), 7, true)}  ${pad(r.p99.toFixed(2), 7, true)}  ${pad(String(r.errors), 6, true)}  ${pad(String(r.non2xx), 6, true)}  ${pad(r.ratio.toFixed(2), 6, true)}  ${pad(r.redisCommandsPerRequest.toFixed(2), 13, true)}  ${pad(r.redisCpuUsPerRequest.toFixed(1), 12, true)}`)
  }
  return [...lines, ...targetLines(scenario.targets ?? [], results)].join('\n')
}

/** One line per target: the same-run ratio and whether it was met. */
export function targetLines (targets: readonly Target[], results: ReadonlyArray<{ name: string, requestsPerSec: number }>): string[] {
  const lines: string[] = []
  for (const target of targets) {
    const mine = results.find((r) => r.name === target.variant)
    const other = results.find((r) => r.name === target.against)
    if (mine === undefined || other === undefined) continue
    const ratio = mine.requestsPerSec / other.requestsPerSec
    lines.push(`target: ${target.variant} >= ${target.min}x ${target.against}: ${ratio.toFixed(2)}x ${ratio >= target.min ? 'met' : 'MISSED'}`)
  }
  return lines
}
