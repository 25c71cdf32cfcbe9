// The example's settings, all from the environment so every instance of a deployment is identical.

const DEV_SECRET = 'dev-only-secret-change-me-0123456789abcdef'

export interface ExampleConfig {
  host: string
  port: number
  redisUrl: string
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

export function readConfig (env: NodeJS.ProcessEnv = process.env): ExampleConfig {
  if ((env.SESSION_SECRETS ?? '') === '' && env.NODE_ENV === 'production') {
    throw new Error('SESSION_SECRETS is not set: in production every instance needs the same secret(s), each at least 32 characters')
  }
  const redisUrl = env.REDIS_URL
  if (redisUrl === undefined || redisUrl === '') throw new Error('REDIS_URL is not set: every instance must share one Redis')
  return {
    host: env.HOST ?? '127.0.0.1',
    port: Number(env.PORT ?? 3000),
    redisUrl,
    // Only the load balancer on this machine by default: a client connecting from anywhere else
    // cannot choose its own address with X-Forwarded-For.
    trust: list(env.TRUST_PROXY, ['127.0.0.1', '::1']),
    sessionSecrets: list(env.SESSION_SECRETS, [DEV_SECRET]),
    drainDelayMs: Number(env.DRAIN_DELAY_MS ?? 10_000),
    drainDeadlineMs: Number(env.DRAIN_DEADLINE_MS ?? 25_000),
    launched: env.SCALEOUT_LAUNCHER === '1'
  }
}
