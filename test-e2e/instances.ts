import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { freePort, waitUntil } from '../test/helpers/index.js'

const root = join(import.meta.dirname, '..')

/** One example-service process, started as a deployment would start it. */
export class Instance {
  readonly name: string
  readonly port: number
  private child: ChildProcess | undefined
  private readonly env: NodeJS.ProcessEnv
  output = ''

  constructor (name: string, port: number, env: NodeJS.ProcessEnv) {
    this.name = name
    this.port = port
    this.env = env
  }

  get url (): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** The process id of the current run: the same before and after a drill means no restart. */
  get pid (): number | undefined {
    return this.child?.pid
  }

  get running (): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  /** Starts the process and waits until its readiness route answers 200. */
  async start (): Promise<void> {
    this.output = ''
    const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@scaleout/source', join(root, 'examples', 'instance.ts')], {
      cwd: root,
      env: { ...process.env, ...this.env, PORT: String(this.port), HOSTNAME: this.name },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    child.stdout?.on('data', (chunk: Buffer) => { this.output += chunk.toString() })
    child.stderr?.on('data', (chunk: Buffer) => { this.output += chunk.toString() })
    this.child = child
    await waitUntil(`${this.name} ready on ${this.port}`, async () => {
      if (!this.running) throw new Error(`${this.name} exited: ${this.output}`)
      return (await fetch(`${this.url}/health/ready`)).status === 200
    }, 30_000, 100)
  }

  /** kill -9: no drain, connections reset. */
  async kill (): Promise<void> {
    await this.signal('SIGKILL')
  }

  /** SIGTERM and wait for the drain to finish and the process to exit; returns its exit code. */
  async terminate (): Promise<number | null> {
    return await this.signal('SIGTERM')
  }

  private async signal (signal: NodeJS.Signals): Promise<number | null> {
    const child = this.child
    if (child === undefined || !this.running) return child?.exitCode ?? null
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    child.kill(signal)
    const [code] = await exited
    return code
  }
}

/** A redis:// URL, or the Sentinels watching the primary (as RedisSentinelHarness#connection gives them). */
export type RedisTarget = string | { sentinels: Array<{ host: string, port: number }>, name: string }

/** The example's environment for `redis`: REDIS_URL, or REDIS_SENTINELS and REDIS_SENTINEL_NAME. */
function redisEnv (redis: RedisTarget): NodeJS.ProcessEnv {
  if (typeof redis === 'string') return { REDIS_URL: redis }
  return { REDIS_URL: '', REDIS_SENTINELS: redis.sentinels.map((s) => `${s.host}:${s.port}`).join(','), REDIS_SENTINEL_NAME: redis.name }
}

export async function startInstances (count: number, redis: RedisTarget, env: NodeJS.ProcessEnv = {}): Promise<Instance[]> {
  const instances: Instance[] = []
  for (let i = 1; i <= count; i++) {
    instances.push(new Instance(`instance-${i}`, await freePort(), {
      ...redisEnv(redis),
      // Only the load balancer (which connects from 127.0.0.1) may forward client details.
      TRUST_PROXY: '127.0.0.1',
      // Longer than HAProxy's inter 1s x fall 2, so the balancer stops sending before close().
      DRAIN_DELAY_MS: '3500',
      DRAIN_DEADLINE_MS: '15000',
      ...env
    }))
  }
  await Promise.all(instances.map(async (instance) => await instance.start()))
  return instances
}
