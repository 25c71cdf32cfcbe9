import { run, withClient } from './execute.js'
import type { Host } from './pools.js'
import { MAX_LSN, positionOf, recordEnd, type WalLayout } from './wal.js'

export const POSITION = 'SELECT pg_current_wal_insert_lsn()::text AS lsn'

/**
 * The primary's WAL insert position for the tokens of writes that have committed. A read of it sent
 * after a commit returned lies at or past that commit's record, whichever connection sends it. So
 * the write gives its connection back at once, and the writes that commit while one read is in
 * flight share the next one: under load a token costs a fraction of a statement, and never holds a
 * pool connection for a second round trip. At most one read is in flight, and one more queued.
 */
export class CommitPositions {
  private readonly primary: Host
  private readonly timeout: number
  private running: Promise<bigint> | null = null
  private waiting: Promise<bigint> | null = null

  constructor (primary: Host, timeout: number, private readonly wal: () => WalLayout | null) {
    this.primary = primary
    this.timeout = timeout
  }

  /**
   * A position at or past every commit that returned before this call, or MAX_LSN when none can be
   * read by `deadline` (the client's reads then go to the primary until the sampler clamps it).
   */
  async after (deadline: number): Promise<bigint> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<bigint>((resolve) => { timer = setTimeout(resolve, Math.max(0, deadline - Date.now()), MAX_LSN) })
    try {
      return await Promise.race([this.next(), late])
    } finally {
      clearTimeout(timer)
    }
  }

  private next (): Promise<bigint> {
    if (this.running === null) return this.launch()
    // The read in flight may have been sent before this commit returned: the one after it serves.
    this.waiting ??= this.running.then(() => this.launch())
    return this.waiting
  }

  private launch (): Promise<bigint> {
    this.waiting = null
    const read = this.read().finally(() => { if (this.running === read) this.running = null })
    this.running = read
    return read
  }

  private async read (): Promise<bigint> {
    const { primary, timeout } = this
    const deadline = Date.now() + timeout
    try {
      const { rows } = await withClient(primary, deadline, timeout, async (client) => await run<{ lsn: string }>(primary, client, POSITION, undefined, deadline, { write: false, budget: timeout }))
      return recordEnd(positionOf(rows[0]?.lsn), this.wal())
    } catch {
      // A standby cannot tell (recovery in progress), a dead primary cannot answer: unknown.
      return MAX_LSN
    }
  }
}
