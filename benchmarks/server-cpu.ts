// The CPU time (user + system, every thread: the garbage collector's helpers included) a benchmark
// server process has used, from /proc/<pid>/stat. Read around a round driven at a fixed rate
// (`--rate`), it says what each row's server spends on a request. At full speed it says nothing
// a row's req/s does not: a saturated server uses about one core whatever it does, so its CPU per
// request is the inverse of its req/s, and as noisy.
import { readFileSync } from 'node:fs'

// /proc gives times in USER_HZ ticks, which the kernel fixes at 100 a second for user space on x86
// and Arm, whatever its own tick rate.
const TICK_US = 10_000

/** The process's CPU time so far in µs, or null where /proc has no such process (not Linux). */
export function processCpuUs (pid: number | undefined): number | null {
  if (pid === undefined) return null
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  // utime and stime are fields 14 and 15, so the 12th and 13th after the name.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * TICK_US
}
