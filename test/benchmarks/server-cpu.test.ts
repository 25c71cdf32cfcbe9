import t from 'tap'
import { processCpuUs } from '../../benchmarks/server-cpu.js'

t.test('a process\'s CPU time: grows while it works, and is null for no process', async (t) => {
  const before = processCpuUs(process.pid)
  t.type(before, 'number')
  // Busy for at least 50 ms of CPU, more than a few clock ticks.
  const start = process.cpuUsage()
  let x = 0
  while (process.cpuUsage(start).user < 50_000) x += Math.sqrt(x + 1)
  t.ok(x > 0)
  const after = processCpuUs(process.pid) as number
  t.ok(after - (before as number) >= 30_000, `at least 30 ms more CPU, got ${after - (before as number)} µs`)
  t.equal(processCpuUs(undefined), null)
  // Past the largest pid Linux hands out (2^22).
  t.equal(processCpuUs(4_194_305), null)
})
