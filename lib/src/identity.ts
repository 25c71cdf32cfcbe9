import { hostname } from 'node:os'

/** Who this instance is: what load balancers, logs and health routes report. */
export interface InstanceIdentity {
  /** HOSTNAME (the pod or container name under Kubernetes and Swarm), else the OS host name. */
  readonly id: string
  readonly pid: number
  /** APP_VERSION, else the service's package version when given, else "unknown". */
  readonly version: string
  /** When this process started (not when the plugin registered). */
  readonly startedAt: Date
}

export interface IdentityOptions {
  /** The service's own package version, used when APP_VERSION is not set. */
  version?: string
}

const processStartedAt = new Date(Date.now() - Math.round(process.uptime() * 1000))

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim()
}

/** Reads the identity from the environment on each call, so tests and forks see their own values. */
export function instanceIdentity (options: IdentityOptions = {}): InstanceIdentity {
  return Object.freeze({
    id: nonEmpty(process.env.HOSTNAME) ?? hostname(),
    pid: process.pid,
    version: nonEmpty(process.env.APP_VERSION) ?? nonEmpty(options.version) ?? 'unknown',
    startedAt: processStartedAt
  })
}
