import type { FastifyBaseLogger } from 'fastify'
import { CommitPositions } from './commit-position.js'
import { Host, type Quarantine } from './pools.js'
import type { HostSpec, Settings } from './options.js'
import { VerifiedTokens } from './token.js'
import type { RouteReason } from './types.js'
import type { WalLayout } from './wal.js'

export const REASONS: readonly RouteReason[] = ['replica', 'caughtUpWait', 'tokenAhead', 'quarantined', 'fallback', 'afterWrite', 'noReplica']

/** The primary, the replicas and what every request shares about them. */
export class Cluster {
  readonly settings: Settings
  readonly log: FastifyBaseLogger
  readonly primary: Host
  readonly replicas: readonly Host[]
  readonly routes: Record<RouteReason, number>
  /** The primary's position for the tokens of committed writes, read once for all that commit meanwhile. */
  readonly positions: CommitPositions
  /**
   * Where the sampler reads each host: the primary on its position connection, each replica on one
   * connection of its own. In the statements' pools a client's slow statements could keep it waiting
   * until its samples failed, and a healthy host would leave rotation for every client.
   */
  readonly sampling: { readonly primary: Host, readonly replicas: readonly Host[] }
  private readonly positionHost: Host
  /** Tokens this instance has verified, so a client's repeated token costs no HMAC. */
  readonly tokens: VerifiedTokens
  /** The primary's WAL page and segment sizes, from the sampler's first answer (null until then). */
  wal: WalLayout | null = null
  /** When the sampler last read the primary's position (ms since the epoch; 0: never). */
  primarySeenAt = 0
  closed = false
  /** The open transactions, each ended (rolled back) by calling it: close() does, not waiting for their deadline. */
  readonly transactions = new Set<() => void>()
  // Replicas start out of rotation until sampled; the first round then logs if none came in.
  private anyInRotation: boolean

  constructor (settings: Settings, log: FastifyBaseLogger) {
    this.settings = settings
    this.log = log
    this.primary = new Host('primary', 0, settings.primary, settings, log)
    this.replicas = settings.replicas.map((spec, i) => new Host('replica', i, spec, settings, log))
    // Position reads get a connection of their own: in the statements' pool they would queue behind
    // the very writes waiting for them. A pool the caller passed is used as it is.
    this.positionHost = ownConnection(this.primary, 0, settings.primary, settings, log)
    this.positions = new CommitPositions(this.positionHost, settings.timeout, () => this.wal)
    this.sampling = {
      primary: this.positionHost,
      replicas: this.replicas.map((host, i) => ownConnection(host, i, settings.replicas[i] as HostSpec, settings, log))
    }
    this.tokens = new VerifiedTokens(settings.secrets)
    this.anyInRotation = this.replicas.length > 0
    this.routes = Object.fromEntries(REASONS.map((r) => [r, 0])) as Record<RouteReason, number>
  }

  inRotation (): Host[] {
    return this.replicas.filter((h) => h.inRotation)
  }

  /** Takes a replica out of rotation; logged once per transition, never per request. */
  quarantine (host: Host, reason: Quarantine, detail: Record<string, unknown>): void {
    if (host.quarantined === reason) return
    const was = host.quarantined
    host.quarantined = reason
    host.recoveries = 0
    if (was === null) this.log.warn({ host: host.name, reason, ...detail }, 'postgres: replica out of rotation')
    this.noteRotation()
  }

  admit (host: Host): void {
    host.quarantined = null
    host.recoveries = 0
    host.failures = 0
    this.log.info({ host: host.name }, 'postgres: replica in rotation')
    this.noteRotation()
  }

  /** A failed call: enough in a row take a replica out, and a quarantined one starts its good samples over. */
  failed (host: Host): void {
    host.failures++
    // recoverAfter counts consecutive good samples: one that failed in between (when the replica is
    // already out as 'down', quarantine() below changes nothing) must not leave the earlier ones counted.
    host.recoveries = 0
    if (host.role === 'replica' && host.failures >= this.settings.quarantineAfter) this.quarantine(host, 'down', { failures: host.failures })
  }

  noteRotation (): void {
    const any = this.replicas.some((h) => h.inRotation)
    if (any === this.anyInRotation) return
    this.anyInRotation = any
    if (any) this.log.info('postgres: replicas back in rotation: reads use them again')
    else this.log.warn('postgres: no replica in rotation: reads go to the primary')
  }

  async close (): Promise<void> {
    this.closed = true
    for (const end of [...this.transactions]) end()
    const hosts = new Set([this.primary, this.positionHost, ...this.replicas, ...this.sampling.replicas])
    await Promise.all([...hosts].map(async (h) => { await h.close() }))
  }
}

/**
 * A pool of one connection to `host`, opened when first used and again after it is lost, ended on
 * close. A pool the caller passed is used as it is: the plugin has no configuration to open
 * another connection with.
 */
function ownConnection (host: Host, index: number, spec: HostSpec, settings: Settings, log: FastifyBaseLogger): Host {
  return spec.kind === 'config' ? new Host(host.role, index, { ...spec, config: { ...spec.config, max: 1 } }, settings, log) : host
}
