import type { Scenario, Target, VariantResult } from './types.js'

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

function pad (text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width)
}

/** Requests per second one Redis core can carry at `usPerRequest` of Redis execution time. */
export function perCore (usPerRequest: number): string {
  if (usPerRequest <= 0) return '-'
  const n = 1e6 / usPerRequest
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : `${Math.round(n / 1000)}k`
}

/** Redis commands per request as a table cell: "0 commands" when a variant sent none. */
export function commandsCell (perRequest: number): string {
  return perRequest < 0.005 ? '0 commands' : perRequest.toFixed(2)
}

/**
 * The table printed for one scenario: every variant with its ratio to bare Fastify from the same run,
 * and what Redis did per request: commands sent, execution µs (commandstats), and the requests per
 * second one Redis core carries at that cost (1,000,000 / µs), beside the redis-server process's CPU.
 */
export function formatTable (scenario: Scenario, results: VariantResult[]): string {
  const nameWidth = Math.max(...results.map((r) => r.name.length), 7)
  // Driven at a fixed rate (--rate): every row's req/s is that rate, and its server's CPU says what it costs.
  const fixedRate = results.every((r) => r.serverUsPerRequest !== undefined)
  const cols: Array<[string, number]> = [['req/s', 9], ['p50 ms', 7], ['p99 ms', 7], ['errors', 6], ['non2xx', 6], ['x bare', 6], ['redis cmd/req', 13], ['redis µs/req', 12], ['req/s per redis core', 20], ['redis proc µs/req', 17], ...(fixedRate ? [['server µs/req', 13] as [string, number]] : [])]
  const header = [pad('variant', nameWidth), ...cols.map(([c, w]) => pad(c, w, true))].join('  ')
  const lines = [`## ${scenario.name}: ${scenario.description}`, header, '-'.repeat(header.length)]
  for (const r of results) {
    const none = r.redisCommandsPerRequest < 0.005
    const cells = [r.requestsPerSec.toFixed(0), r.p50.toFixed(2), r.p99.toFixed(2), String(r.errors), String(r.non2xx), r.ratio.toFixed(2),
      commandsCell(r.redisCommandsPerRequest), none ? '-' : r.redisUsPerRequest.toFixed(2), none ? '-' : perCore(r.redisUsPerRequest), none ? '-' : r.redisProcessUsPerRequest.toFixed(1),
      ...(fixedRate ? [(r.serverUsPerRequest as number).toFixed(1)] : [])]
    lines.push([pad(r.name, nameWidth), ...cells.map((c, i) => pad(c, (cols[i] as [string, number])[1], true))].join('  '))
  }
  return [...lines, ...(fixedRate ? costLines(scenario.targets ?? [], results) : targetLines(scenario.targets ?? [], results))].join('\n')
}

/**
 * At a fixed rate the req/s targets say nothing (every row serves the rate): one line per target
 * pair instead, with what the row's server spends on a request beyond the other's, the median of
 * the rounds' differences (the two rows measured seconds apart in the same round).
 */
export function costLines (targets: readonly Target[], results: readonly VariantResult[]): string[] {
  const lines: string[] = []
  for (const target of targets) {
    const mine = results.find((r) => r.name === target.variant)?.roundsServerUs
    const other = results.find((r) => r.name === target.against)?.roundsServerUs
    if (mine === undefined || other === undefined || mine.length === 0 || mine.length !== other.length) continue
    const differences = mine.map((us, i) => us - (other[i] as number))
    const signed = (us: number): string => (us >= 0 ? '+' : '') + us.toFixed(1)
    lines.push(`server cost: ${target.variant} against ${target.against}: ${signed(median(differences))} µs a request; rounds ${signed(Math.min(...differences))} to ${signed(Math.max(...differences))}`)
  }
  return lines
}

/** What a target line needs of a row: its median req/s, and optionally each round's, in round order. */
export interface TargetRow {
  name: string
  requestsPerSec: number
  roundsPerSec?: readonly number[]
}

/**
 * One line per target: the same-run ratio of the medians, and whether it was met. When both rows
 * give their rounds, the line also gives the spread of the round-by-round ratios (the two rows
 * measured seconds apart in the same round) and in how many rounds the target held: on a shared
 * machine a ratio near its target can miss or meet on one round's drift, and the line shows which.
 */
export function targetLines (targets: readonly Target[], results: readonly TargetRow[]): string[] {
  const lines: string[] = []
  for (const target of targets) {
    const mine = results.find((r) => r.name === target.variant)
    const other = results.find((r) => r.name === target.against)
    if (mine === undefined || other === undefined) continue
    const ratio = mine.requestsPerSec / other.requestsPerSec
    const spread = roundSpread(mine.roundsPerSec, other.roundsPerSec, target.min)
    lines.push(`target: ${target.variant} >= ${target.min}x ${target.against}: ${ratio.toFixed(2)}x ${ratio >= target.min ? 'met' : 'MISSED'}${spread}`)
  }
  return lines
}

/** "; rounds 0.81x to 1.02x, met in 3 of 7" for two rows' rounds, or '' when either lacks them. */
export function roundSpread (mine: readonly number[] | undefined, other: readonly number[] | undefined, min: number): string {
  if (mine === undefined || other === undefined || mine.length === 0 || mine.length !== other.length) return ''
  const ratios = mine.map((value, i) => value / (other[i] as number))
  const met = ratios.filter((r) => r >= min).length
  return `; rounds ${Math.min(...ratios).toFixed(2)}x to ${Math.max(...ratios).toFixed(2)}x, met in ${met} of ${ratios.length}`
}
