import type { Cluster } from './cluster.js'
import { acquire, isBroken, release, run } from './execute.js'
import { advance, type Host } from './pools.js'
import { parseLsn } from './wal.js'

// The background sampler: every interval (±20% jitter, so instances do not sample in lockstep) it
// reads the primary's insert position and each replica's replay position, derives each replica's
// lag, and moves replicas in and out of rotation. The request path only reads what it found.
//
// Lag is measured in WAL, not in time since the last replayed commit: an idle primary writes
// nothing, so a replica with nothing to replay would look minutes behind by that clock. A replica
// that has replayed the primary's last seen position has no lag; one that has not is as far behind
// as the oldest primary sample it is still missing.

const PRIMARY_SQL = 'SELECT pg_is_in_recovery() AS recovery, CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_insert_lsn()::text END AS lsn'
const REPLICA_SQL = 'SELECT pg_is_in_recovery() AS recovery, pg_last_wal_replay_lsn()::text AS lsn'

interface Sample { recovery: boolean, lsn: string | null }
interface Seen { lsn: bigint, at: number }

export class Sampler {
  private readonly cluster: Cluster
  private readonly history: Seen[] = []
  private readonly historySize: number
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private stopped = false
  private primaryReadOnly = false

  constructor (cluster: Cluster) {
    this.cluster = cluster
    const { maxLag, sampleInterval } = cluster.settings
    this.historySize = Math.max(64, Math.ceil(maxLag / sampleInterval) * 2 + 8)
  }

  /** Runs a first round (so replicas can be in rotation when the app is ready), then keeps sampling. */
  async start (): Promise<void> {
    await this.round()
    this.schedule()
  }

  async stop (): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.running
  }

  private schedule (): void {
    if (this.stopped) return
    const delay = this.cluster.settings.sampleInterval * (0.8 + 0.4 * Math.random())
    this.timer = setTimeout(() => {
      this.running = this.round().finally(() => {
        this.running = undefined
        this.schedule()
      })
    }, delay)
    this.timer.unref()
  }

  /** One sample of every host, all at once, each bounded by `timeout`; the next round starts after this one. */
  async round (): Promise<void> {
    const { primary, replicas } = this.cluster
    const [primarySample, ...replicaSamples] = await Promise.all([
      this.sample(primary, PRIMARY_SQL),
      ...replicas.map(async (h) => await this.sample(h, REPLICA_SQL))
    ])
    this.primarySampled(primarySample as Sample | null)
    replicas.forEach((host, i) => { this.replicaSampled(host, replicaSamples[i] as Sample | null) })
    this.cluster.noteRotation()
  }

  private async sample (host: Host, sql: string): Promise<Sample & { at: number } | null> {
    const { timeout } = this.cluster.settings
    const at = Date.now()
    const deadline = at + timeout
    try {
      const client = await acquire(host, deadline, timeout)
      let destroy = false
      try {
        const { rows } = await run<Sample>(host, client, sql, undefined, deadline, { write: false, budget: timeout })
        return { ...(rows[0] as Sample), at }
      } catch (err) {
        destroy = isBroken(err)
        throw err
      } finally {
        release(client, destroy)
      }
    } catch {
      return null
    }
  }

  private primarySampled (sample: Sample & { at?: number } | null): void {
    const { cluster } = this
    const primary = cluster.primary
    if (sample === null) {
      if (primary.reachable) cluster.log.warn({ host: primary.name }, 'postgres: primary unreachable')
      primary.reachable = false
      primary.failures++
      return
    }
    if (!primary.reachable) cluster.log.info({ host: primary.name }, 'postgres: primary reachable again')
    primary.reachable = true
    primary.failures = 0
    if (sample.recovery !== this.primaryReadOnly) {
      this.primaryReadOnly = sample.recovery
      if (sample.recovery) cluster.log.error({ host: primary.name }, 'postgres: the primary is in recovery (a standby): writes will fail with SCALEOUT_ERR_DB_READ_ONLY')
    }
    const lsn = parseLsn(sample.lsn)
    if (lsn === null) return
    advance(primary, lsn)
    cluster.primarySeenAt = sample.at as number
    const last = this.history[this.history.length - 1]
    if (last === undefined || lsn > last.lsn) {
      this.history.push({ lsn, at: sample.at as number })
      if (this.history.length > this.historySize) this.history.shift()
    }
  }

  private replicaSampled (host: Host, sample: Sample & { at?: number } | null): void {
    const { cluster } = this
    const { maxLag, maxLagBytes, recoverAfter } = cluster.settings
    if (sample === null) {
      host.reachable = false
      cluster.failed(host)
      return
    }
    const firstSight = host.lsn === null
    host.reachable = true
    host.failures = 0
    const lsn = parseLsn(sample.lsn)
    if (!sample.recovery || lsn === null) {
      // A promoted replica (or the primary listed as a replica) is on its own timeline: reads there
      // would miss every later write to the primary.
      cluster.quarantine(host, 'not-standby', {})
      return
    }
    advance(host, lsn)
    this.measure(host)
    if (host.inRotation) {
      if (host.lagMs > maxLag || host.lagBytes > maxLagBytes) cluster.quarantine(host, 'lag', { lagMs: host.lagMs, lagBytes: host.lagBytes, maxLag })
      return
    }
    // Back in rotation only once well under the limits, several samples in a row: a replica hovering
    // at the limit does not flap.
    if (host.lagMs > maxLag / 2 || host.lagBytes > maxLagBytes / 2) {
      host.recoveries = 0
      cluster.quarantine(host, 'lag', { lagMs: host.lagMs, lagBytes: host.lagBytes, maxLag })
      return
    }
    if (firstSight || ++host.recoveries >= recoverAfter) cluster.admit(host)
  }

  private measure (host: Host): void {
    const primaryLsn = this.cluster.primary.lsn
    const replay = host.lsn as bigint
    if (primaryLsn === null || replay >= primaryLsn) {
      host.lagBytes = 0
      host.lagMs = 0
      return
    }
    host.lagBytes = Number(primaryLsn - replay)
    const missing = this.history.find((seen) => seen.lsn > replay)
    host.lagMs = missing === undefined ? 0 : Math.max(0, Date.now() - missing.at)
  }
}
