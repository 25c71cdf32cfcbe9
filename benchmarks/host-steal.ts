// How much of the machine's CPU time the hypervisor gave to other guests while a scenario ran
// ("steal" in /proc/stat). On a shared virtual machine that share swings from run to run, and every
// figure of the run swings with it (req/s, and Redis's commandstats usec, which is wall time and so
// grows while the Redis thread waits for a core): the runner prints it beside each table so that a
// run measured on a busy host reads as such.
import { readFileSync } from 'node:fs'

export interface CpuTimes { steal: number, total: number }

/** The machine's CPU time so far, in ticks; null where there is no /proc/stat (not Linux). */
export function cpuTimes (): CpuTimes | null {
  let line: string
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] as string
  } catch {
    return null
  }
  // user nice system idle iowait irq softirq steal (guest time is already counted in user and nice)
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number)
  return { steal: ticks[7] ?? 0, total: ticks.reduce((sum, n) => sum + n, 0) }
}

/** A line saying which share of the CPU time between `before` and now was stolen, or '' where unknown. */
export function stealLine (before: CpuTimes | null): string {
  const after = cpuTimes()
  if (before === null || after === null || after.total <= before.total) return ''
  const share = (after.steal - before.steal) / (after.total - before.total)
  return `host: ${(share * 100).toFixed(1)}% of the CPU time during this scenario was stolen by the hypervisor (other guests); figures measured under steal are lower and noisier`
}
