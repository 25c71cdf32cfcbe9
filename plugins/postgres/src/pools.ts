import type { FastifyBaseLogger } from 'fastify'
import pg from 'pg'
import type { HostSpec, Settings } from './options.js'

export type Role = 'primary' | 'replica'
export type Quarantine = 'lag' | 'down' | 'not-standby' | 'diverged'

/**
 * One PostgreSQL host: its pool and what the sampler and the request path last learned about it.
 * Replicas move between in rotation and quarantined; the primary is never quarantined, only
 * reported unreachable.
 */
export class Host {
  readonly role: Role
  readonly name: string
  readonly weight: number
  readonly pool: pg.Pool
  readonly owned: boolean
  /** Replicas: replayed position; primary: the end of its last record; as last reported (null: not yet known). */
  lsn: bigint | null = null
  /** A replica seen ahead of the primary: the position it was stuck at then (see the sampler). */
  divergedAt: bigint | null = null
  lagMs = 0
  lagBytes = 0
  quarantined: Quarantine | null
  /** Consecutive failed calls (sampler or request path) and consecutive good samples while quarantined. */
  failures = 0
  recoveries = 0
  /** Whether the last sample reached the host. */
  reachable = true
  /** Reads this host answered. */
  reads = 0
  /** Smooth weighted round robin state. */
  current = 0
  private readonly onError: (err: Error) => void
  private readonly onAcquire: (client: pg.PoolClient) => void
  private readonly onRelease: (err: Error | undefined, client: pg.PoolClient) => void

  constructor (role: Role, index: number, spec: HostSpec, settings: Settings, log: FastifyBaseLogger) {
    this.role = role
    this.name = role === 'primary' ? 'primary' : `replica-${index + 1}`
    this.weight = spec.weight
    // A replica starts out of rotation until the sampler has seen it replaying: nothing is read from a
    // host whose position is unknown.
    this.quarantined = role === 'replica' ? 'down' : null
    if (spec.kind === 'pool') {
      this.pool = spec.pool
      this.owned = false
    } else {
      this.pool = new pg.Pool({
        max: settings.poolSize,
        ...spec.config,
        // Our own deadline bounds every acquisition; this only stops pg connecting forever behind it,
        // and is longer so that ours is the one that fires.
        connectionTimeoutMillis: settings.timeout + 1000
      })
      this.owned = true
    }
    // An idle client whose server goes away emits `error` on the pool: without a listener the process dies.
    this.onError = (err: Error) => {
      log.warn({ err: { message: err.message, code: (err as { code?: string }).code }, host: this.name, target: spec.label }, 'postgres: idle connection lost')
    }
    this.pool.on('error', this.onError)
    // pg removes its own listener from a client it hands out, and a server that goes away reports it
    // as an `error` event, which with no listener kills the process. Ours is attached in pg's own
    // `acquire` event, synchronously: a new client's FATAL can arrive in the same packet as its
    // ReadyForQuery, before any code awaiting the client runs. The failure itself surfaces on the
    // query, or as a closed connection on the next one.
    this.onAcquire = (client) => { client.on('error', ignore) }
    this.onRelease = (_err, client) => { client.removeListener('error', ignore) }
    this.pool.on('acquire', this.onAcquire)
    this.pool.on('release', this.onRelease)
  }

  get inRotation (): boolean {
    return this.quarantined === null
  }

  /** Ends a pool the plugin created; a caller's pool only loses our listener. */
  async close (): Promise<void> {
    if (this.owned) {
      // pg's end() resolves once it has asked each connection to end, not once they have: a FATAL
      // the server sent first (a replica's recovery conflict, say) is read afterwards and emitted on
      // the pool. Our pool is discarded, so that error is dropped rather than crashing the process.
      this.pool.on('error', ignore)
      await this.pool.end()
    }
    this.pool.removeListener('error', this.onError)
    this.pool.removeListener('acquire', this.onAcquire)
    this.pool.removeListener('release', this.onRelease)
  }
}

function ignore (): void {}
