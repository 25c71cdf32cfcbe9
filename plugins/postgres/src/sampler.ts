import type { Cluster } from './cluster.js'
import { run, withClient } from './execute.js'
import type { Host } from './pools.js'
import { formatLsn, layoutOf, parseLsn, recordEnd } from './wal.js'

// The background sampler: every interval (±20% jitter, so instances do not sample in lockstep) it
// reads the primary's insert position and each replica's replay position, derives each replica's
// lag, and moves replicas in and out of rotation. The request path only reads what it found.
//
// Lag is measured in WAL, not in time since the last replayed commit: an idle primary writes
// nothing, so a replica with nothing to replay would look minutes behind by that clock. The
// primary's insert position is taken back to its last record's end (see recordEnd). A replica
// that has replayed the primary's last seen position has no lag; one that has not is as far behind
// as the oldest primary sample it is still missing.
//
// The primary is sampled after the replicas: WAL reaches a standby only once the primary wrote it,
// so a standby of this primary never reports more than the primary's next sample. One that does
// is on another history (a failover promoted a server that had received less than it): what it
// replayed past the fork was never written here, and a token it seems to satisfy is not.

const PRIMARY_SQL = "SELECT pg_is_in_recovery() AS recovery, CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_insert_lsn()::text END AS lsn, current_setting('wal_block_size') AS block, pg_size_bytes(current_setting('wal_segment_size'))::text AS segment"
const REPLICA_SQL = 'SELECT pg_is_in_recovery() AS recovery, pg_last_wal_replay_lsn()::text AS lsn'

interface Sample { recovery: boolean, lsn: string | null, block?: string, segment?: string }
interface Seen { lsn: bigint, at: number }
/** A sample and when it was asked for, or null when the host did not answer in time. */
type Sampled = (Sample & { at: number }) | null

export class Sampler {
  private readonly cluster: Cluster
  private readonly history: Seen[] = []
  /** How long primary samples are kept: past the lag that quarantines, plus two intervals. */
  private readonly keep: number
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private stopped = false
  private primaryReadOnly = false

  constructor (cluster: Cluster) {
    this.cluster = cluster
    const { maxLag, sampleInterval } = cluster.settings
    this.keep = 2 * maxLag + 2 * sampleInterval
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
    /* c8 ignore next -- a round that ends after close(): reached only when close lands mid-round */
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

  /**
   * One sample of every replica at once, then of the primary, each bounded by `timeout` and read on
   * the host's sampling connection (see Cluster.sampling); the next round starts after this one.
   */
  async round (): Promise<void> {
    const { replicas, sampling } = this.cluster
    const replicaSamples = await Promise.all(sampling.replicas.map(async (h) => await this.sample(h, REPLICA_SQL)))
    const after = this.primarySampled(await this.sample(sampling.primary, PRIMARY_SQL))
    replicas.forEach((host, i) => { this.replicaSampled(host, replicaSamples[i] as Sampled, after) })
    this.cluster.noteRotation()
  }

  private async sample (host: Host, sql: string): Promise<Sampled> {
    const { timeout } = this.cluster.settings
    const at = Date.now()
    const deadline = at + timeout
    try {
      const { rows } = await withClient(host, deadline, timeout, async (client) => await run<Sample>(host, client, sql, undefined, deadline, { write: false, budget: timeout }))
      return { ...(rows[0] as Sample), at }
    } catch {
      return null
    }
  }

  /** Takes in the primary's sample; its position when this round read one, else null. */
  private primarySampled (sample: Sampled): bigint | null {
    const { cluster } = this
    const primary = cluster.primary
    if (sample === null) {
      if (primary.reachable) cluster.log.warn({ host: primary.name }, 'postgres: primary unreachable')
      primary.reachable = false
      primary.failures++
      return null
    }
    if (!primary.reachable) cluster.log.info({ host: primary.name }, 'postgres: primary reachable again')
    primary.reachable = true
    primary.failures = 0
    if (sample.recovery !== this.primaryReadOnly) {
      this.primaryReadOnly = sample.recovery
      if (sample.recovery) cluster.log.error({ host: primary.name }, 'postgres: the primary is in recovery (a standby): writes will fail with SCALEOUT_ERR_DB_READ_ONLY')
    }
    cluster.wal ??= layoutOf(sample.block, sample.segment)
    const inserted = parseLsn(sample.lsn)
    if (inserted === null) return null
    const lsn = recordEnd(inserted, cluster.wal)
    const last = this.history[this.history.length - 1]
    if (last !== undefined && lsn < last.lsn) {
      // Another server answers at the primary's address (a failover, a restore): lag is measured
      // from its positions alone, or its caught-up replicas would look behind by the difference.
      cluster.log.warn({ host: primary.name, was: formatLsn(last.lsn), now: formatLsn(lsn) }, 'postgres: the primary\'s position went back: another server took its place')
      this.history.length = 0
    }
    primary.lsn = lsn
    cluster.primarySeenAt = sample.at
    if (last === undefined || lsn > last.lsn || this.history.length === 0) {
      this.history.push({ lsn, at: sample.at })
      // Of the samples older than `keep`, the newest is enough: a replica missing it is past maxLag
      // whichever older one it misses too.
      while (this.history.length > 1 && (this.history[1] as Seen).at < sample.at - this.keep) this.history.shift()
    }
    return lsn
  }

  /** `after`: the primary's position read after this sample, null when the round could not read one. */
  private replicaSampled (host: Host, sample: Sampled, after: bigint | null): void {
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
    // What the replica says now, even below what it said before: the address may reach another
    // server further behind (re-cloned, or a balancer in front of several). Too low only costs a
    // wait or a read on the primary; too high would serve a client data older than its token.
    host.lsn = lsn
    if (after !== null && lsn > after) {
      if (host.quarantined !== 'diverged') cluster.log.warn({ host: host.name, replayed: formatLsn(lsn), primary: formatLsn(after) }, 'postgres: replica on another history than the primary (it replayed past the primary\'s position): out of rotation until its position moves')
      host.divergedAt = lsn
      cluster.quarantine(host, 'diverged', { replayed: formatLsn(lsn), primary: formatLsn(after) })
      return
    }
    // One that was ahead stays out until its position moves (re-cloned, or streaming again): a
    // standby that cannot follow the new primary replays nothing more, and soon looks caught up.
    if (host.quarantined === 'diverged' && lsn === host.divergedAt) return
    host.divergedAt = null
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
    // The latest sample is the primary position, past `replay`: one is always found.
    const missing = this.history.find((seen) => seen.lsn > replay) as Seen
    host.lagMs = Math.max(0, Date.now() - missing.at)
  }
}
