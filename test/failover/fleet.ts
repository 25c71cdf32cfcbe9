import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import broadcast from '@scaleout/broadcast'
import cache from '@scaleout/cache'
import health from '@scaleout/health'
import session from '@scaleout/session'
import type { RedisOption } from '@scaleout/core'
import { appFor, sleep, waitUntil } from '../helpers/index.js'

declare module '@scaleout/session' {
  interface SessionData {
    userId?: string | number
    n?: number
  }
}

export const SECRET = 'failover-secret-0123456789-abcdefghij'
/** The broadcast channel every instance listens on. */
export const CHANNEL = 'news'

/** A received broadcast message: its body and where it was published. */
export interface Delivery { body: string, local: boolean }

export interface Instance {
  app: FastifyInstance
  /** Every message its `news` handler got, in order. */
  deliveries: Delivery[]
}

/**
 * One service instance as a real deployment has it: session, cache, broadcast and health on one
 * Redis option, each plugin with its own connections, and the routes the load drives.
 */
export async function startInstance (t: Test, redis: RedisOption): Promise<Instance> {
  const app = appFor(t)
  await app.register(session, { secret: SECRET, redis, timeout: 1000 })
  await app.register(cache, { redis, timeout: 1000, heartbeatInterval: 500 })
  await app.register(broadcast, { redis, timeout: 1000, heartbeatInterval: 500 })
  await app.register(health, { redis, redisCheck: { interval: 200, timeout: 500 }, eventLoopDelay: false, signals: false })
  const deliveries: Delivery[] = []
  app.after(() => {
    app.broadcast.subscribe(CHANNEL, (message, meta) => { deliveries.push({ body: String(message), local: meta.local }) })
  })
  app.get('/anon', { config: { session: false } }, async () => ({ ok: true }))
  app.post('/login', async (request) => {
    await request.session.regenerate()
    request.session.set('userId', (request.body as { userId: string }).userId)
    return { ok: true }
  })
  app.get('/me', async (request) => ({ userId: request.session.get('userId') ?? null }))
  app.post('/count', async (request) => {
    request.session.set('n', (request.session.get('n') ?? 0) + 1)
    return { ok: true }
  })
  app.get('/cache/:key', { config: { session: false } }, async (request) =>
    ({ value: await app.cache.get((request.params as { key: string }).key) ?? null }))
  app.put('/cache/:key', { config: { session: false } }, async (request) => {
    await app.cache.set((request.params as { key: string }).key, (request.body as { value: unknown }).value)
    return { ok: true }
  })
  app.delete('/cache/:key', { config: { session: false } }, async (request) => {
    await app.cache.del((request.params as { key: string }).key)
    return { ok: true }
  })
  app.post('/publish', { config: { session: false } }, async (request) => {
    const result = await app.broadcast.publish(CHANNEL, (request.body as { body: string }).body)
    return { remote: result.remote }
  })
  await app.ready()
  return { app, deliveries }
}

/** The `name=value` part of the session Set-Cookie, or undefined. */
export function cookieOf (res: LightMyRequestResponse): string | undefined {
  const header = res.headers['set-cookie']
  const first = Array.isArray(header) ? header[0] : header
  return first?.split(';')[0]
}

export type Op = 'anon' | 'login' | 'read' | 'write' | 'cacheGet' | 'cacheSet' | 'cacheDel' | 'publish' | 'ready'

export interface Outcome {
  op: Op
  instance: number
  /** Date.now() when sent and when answered (or given up). */
  start: number
  end: number
  /** HTTP status, or 0 when no answer came within the client's deadline. */
  status: number
  code?: string
  /** For a publish: whether Redis took it. */
  remote?: boolean
}

export interface Login { userId: string, cookie: string, ackedAt: number }

/** How long the load's client waits for any answer before counting a request as hung. */
export const CLIENT_DEADLINE = 10_000

async function within (app: FastifyInstance, options: InjectOptions): Promise<LightMyRequestResponse | undefined> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), CLIENT_DEADLINE) })
  try {
    return await Promise.race([app.inject(options), deadline])
  } finally {
    clearTimeout(timer)
  }
}

const OPS: Op[] = ['anon', 'login', 'read', 'write', 'cacheGet', 'cacheSet', 'cacheDel', 'publish']
const ALL_OPS: Op[] = [...OPS, 'ready']

/**
 * Steady load over every instance: `workers` loops, each sending the next operation of OPS to the
 * next instance, a few ms apart (to share 2 cores), and one probe loop per instance asking
 * /health/ready as a load balancer would; every outcome is recorded, until `stop()`.
 */
export class Load {
  readonly outcomes: Outcome[] = []
  readonly logins: Login[] = []
  private stopped = false
  private readonly loops: Array<Promise<void>> = []
  private seq = 0

  constructor (private readonly instances: Instance[], private readonly cookies: string[]) {}

  start (workers = 4): void {
    for (let w = 0; w < workers; w++) this.loops.push(this.loop(w))
    for (let i = 0; i < this.instances.length; i++) this.loops.push(this.probe(i))
  }

  async stop (): Promise<void> {
    this.stopped = true
    await Promise.all(this.loops)
  }

  /** Outcomes of `op` (all when omitted) sent at or after `from`. */
  since (from: number, op?: Op): Outcome[] {
    return this.outcomes.filter((o) => o.start >= from && (op === undefined || o.op === op))
  }

  private async loop (worker: number): Promise<void> {
    let i = worker
    while (!this.stopped) {
      const n = this.seq++
      const op = OPS[n % OPS.length] as Op
      await this.send(op, (i++) % this.instances.length)
      await sleep(5)
    }
  }

  private async probe (index: number): Promise<void> {
    while (!this.stopped) {
      await this.send('ready', index)
      await sleep(50)
    }
  }

  private async send (op: Op, index: number): Promise<void> {
    const { app } = this.instances[index] as Instance
    const cookie = this.cookies[this.seq % this.cookies.length] as string
    const key = `k${this.seq % 20}`
    const userId = `u${this.seq}`
    const start = Date.now()
    const res = await within(app, op === 'anon'
      ? { url: '/anon' }
      : op === 'login'
        ? { method: 'POST', url: '/login', payload: { userId } }
        : op === 'read'
          ? { url: '/me', headers: { cookie } }
          : op === 'write'
            ? { method: 'POST', url: '/count', headers: { cookie } }
            : op === 'cacheGet'
              ? { url: `/cache/${key}` }
              : op === 'cacheSet'
                ? { method: 'PUT', url: `/cache/${key}`, payload: { value: this.seq } }
                : op === 'cacheDel'
                  ? { method: 'DELETE', url: `/cache/${key}` }
                  : op === 'publish'
                    ? { method: 'POST', url: '/publish', payload: { body: `load-${this.seq}` } }
                    : { url: '/health/ready' })
    const end = Date.now()
    const outcome: Outcome = { op, instance: index, start, end, status: res?.statusCode ?? 0 }
    if (res !== undefined && res.statusCode >= 400) outcome.code = (res.json() as { code?: string }).code
    if (res !== undefined && op === 'publish' && res.statusCode === 200) outcome.remote = (res.json() as { remote: boolean }).remote
    if (res !== undefined && op === 'login' && res.statusCode === 200) this.logins.push({ userId, cookie: cookieOf(res) as string, ackedAt: end })
    this.outcomes.push(outcome)
  }
}

/** Whether an outcome is a success: 200, and for a publish, taken by Redis. */
export function succeeded (o: Outcome): boolean {
  return o.status === 200 && o.remote !== false
}

/**
 * Waits (bounded) until, since `from`, every operation on every instance has succeeded `streak`
 * times in a row; returns when the last failure ended (or `from` if none).
 */
export async function waitRecovered (load: Load, from: number, instances: number, boundMs: number, streak = 3): Promise<number> {
  const failing = (): string[] => {
    const out: string[] = []
    for (const op of ALL_OPS) {
      for (let i = 0; i < instances; i++) {
        const last = load.since(from, op).filter((o) => o.instance === i).slice(-streak)
        if (last.length < streak || !last.every(succeeded)) out.push(`${op}@${i}: ${last.map((o) => o.remote === false ? 'remote:false' : `${o.status} ${o.code ?? ''}`.trim()).join(', ')}`)
      }
    }
    return out
  }
  try {
    await waitUntil('every operation succeeding again on every instance', () => failing().length === 0, boundMs, 50)
  } catch (err) {
    throw new Error(`${(err as Error).message}; still failing: ${failing().join('; ')}`)
  }
  const failures = load.since(from).filter((o) => !succeeded(o))
  return failures.length === 0 ? from : Math.max(...failures.map((o) => o.end))
}

/** Logs in `count` users on the instances in turn; returns their cookies. */
export async function loginUsers (instances: Instance[], count: number): Promise<string[]> {
  const cookies: string[] = []
  for (let i = 0; i < count; i++) {
    const res = await (instances[i % instances.length] as Instance).app.inject({ method: 'POST', url: '/login', payload: { userId: `seed${i}` } })
    cookies.push(cookieOf(res) as string)
  }
  return cookies
}
