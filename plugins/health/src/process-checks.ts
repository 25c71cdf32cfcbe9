import { monitorEventLoopDelay } from 'node:perf_hooks'
import { getHeapStatistics } from 'node:v8'
import type { ThresholdSettings } from './options.js'
import type { CheckObservation, HealthStatus } from './types.js'

function judge (value: number, limits: ThresholdSettings, what: string, unit: string): CheckObservation {
  const status: HealthStatus = value >= limits.fail ? 'fail' : value >= limits.warn ? 'warn' : 'pass'
  const observation: CheckObservation = { status, observedValue: value, observedUnit: unit }
  if (status !== 'pass') {
    const limit = status === 'fail' ? limits.fail : limits.warn
    observation.output = `${what} ${value}${unit} is at or over the ${status} threshold of ${limit}${unit}`
  }
  return observation
}

/**
 * The p99 event-loop delay since the previous run (perf_hooks.monitorEventLoopDelay). The
 * histogram starts with the first run, so module loading before the server was ready is not
 * counted against it.
 */
export function eventLoopDelay (limits: ThresholdSettings): { check: () => CheckObservation, dispose: () => void } {
  const histogram = monitorEventLoopDelay({ resolution: 10 })
  let enabled = false
  return {
    check: () => {
      if (!enabled) {
        histogram.enable()
        enabled = true
      }
      const p99 = histogram.count === 0 ? 0 : Math.round(histogram.percentile(99) / 1e4) / 100
      histogram.reset()
      return judge(p99, limits, 'p99 event-loop delay', 'ms')
    },
    dispose: () => histogram.disable()
  }
}

/** V8 heap in use as a percentage of the heap limit. */
export function heapUtilization (limits: ThresholdSettings): () => CheckObservation {
  return () => {
    const { used_heap_size: used, heap_size_limit: limit } = getHeapStatistics()
    return judge(Math.round((used / limit) * 1000) / 10, limits, 'heap used', '%')
  }
}
