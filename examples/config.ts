// The example's settings, all from the environment so every instance of a deployment is identical.

const DEV_SECRET = 'dev-only-secret-change-me-0123456789abcdef'

/** The `{ sentinels, name }` form that the plugins' `redis` option takes too. */
export interface SentinelTarget {
  sentinels: Array<{ host: string, port: number }>
  name: string
}

export interface ExampleConfig {
  host: string
  port: number
  /** REDIS_URL, or the Sentinels to ask for the primary (REDIS_SENTINELS and REDIS_SENTINEL_NAME). */
  redis: string | SentinelTarget
  /** Addresses allowed to forward client details (the load balancer). */
  trust: string[]
  sessionSecrets: string[]
  drainDelayMs: number
  drainDeadlineMs: number
  /** Started by `npm start` or `npm run start:lb` (SCALEOUT_LAUNCHER=1), which signal it too. */
  launched: boolean
}

function list (value: string | undefined, fallback: string[]): string[] {
  if (value === undefined || value.trim() === '') return fallback
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '')
}

/** REDIS_SENTINELS=host:port,host:port (a bracketed IPv6 host too) with REDIS_SENTINEL_NAME. */
function sentinelTarget (env: NodeJS.ProcessEnv): SentinelTarget {
  const name = env.REDIS_SENTINEL_NAME ?? ''
  if (name === '') throw new Error('REDIS_SENTINELS is set but REDIS_SENTINEL_NAME is not: name the primary the Sentinels watch')
  const sentinels = list(env.REDIS_SENTINELS, []).map((address) => {
    const at = address.lastIndexOf(':')
    const host = address.slice(0, at).replace(/^\[|\]$/g, '')
    const port = Number(address.slice(at + 1))
    if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`REDIS_SENTINELS: expected host:port, got ${JSON.stringify(address)}`)
    return { host, port }
  })
  if (sentinels.length === 0) throw new Error('REDIS_SENTINELS lists no host:port')
  return { sentinels, name }
}

export function readConfig (env: NodeJS.ProcessEnv = process.env): ExampleConfig {
  if ((env.SESSION_SECRETS ?? '') === '' && env.NODE_ENV === 'production') {
    throw new Error('SESSION_SECRETS is not set: in production every instance needs the same secret(s), each at least 32 characters')
  }
  const redisUrl = env.REDIS_URL ?? ''
  const sentinels = env.REDIS_SENTINELS ?? ''
  if (redisUrl !== '' && sentinels.trim() !== '') throw new Error('REDIS_URL and REDIS_SENTINELS are both set: set one')
  if (redisUrl === '' && sentinels.trim() === '') throw new Error('REDIS_URL (or REDIS_SENTINELS) is not set: every instance must share one Redis')
  return {
    host: env.HOST ?? '127.0.0.1',
    port: Number(env.PORT ?? 3000),
    redis: redisUrl !== '' ? redisUrl : sentinelTarget(env),
    // Only the load balancer on this machine by default: a client connecting from anywhere else
    // cannot choose its own address with X-Forwarded-For.
    trust: list(env.TRUST_PROXY, ['127.0.0.1', '::1']),
    sessionSecrets: list(env.SESSION_SECRETS, [DEV_SECRET]),
    drainDelayMs: Number(env.DRAIN_DELAY_MS ?? 10_000),
    drainDeadlineMs: Number(env.DRAIN_DEADLINE_MS ?? 25_000),
    launched: env.SCALEOUT_LAUNCHER === '1'
  }
}
