import type { Cluster } from './cluster.js'
import { DbClosedError } from './errors.js'
import { attempt } from './queries.js'
import type { DbChecks } from './types.js'

// Check functions shaped for @scaleout/health's addCheck without either plugin importing the other:
// resolve with observations to pass or warn, throw to fail.

export function checks (cluster: Cluster): DbChecks {
  return {
    async primary () {
      // After close, as every other call: not a SELECT 1 on a pool the caller passed, which is still open.
      if (cluster.closed) throw new DbClosedError()
      const started = Date.now()
      await attempt(cluster, cluster.primary, 'SELECT 1', undefined, started + cluster.settings.timeout)
      return { status: 'pass', observedValue: Date.now() - started, observedUnit: 'ms' }
    },
    async replicas () {
      const inRotation = cluster.inRotation().length
      if (cluster.replicas.length > 0 && inRotation === 0) {
        return { status: 'warn', observedValue: 0, observedUnit: 'replicas', output: 'no replica in rotation: reads run on the primary' }
      }
      return { status: 'pass', observedValue: inRotation, observedUnit: 'replicas' }
    }
  }
}
