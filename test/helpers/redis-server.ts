import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis, type RedisOptions } from 'ioredis'
import { freePort, waitUntil } from './ports.js'
import { binary, track } from './processes.js'
import { rawCommand } from './resp.js'

export interface RedisServerOptions {
  /** Extra redis-server arguments, such as ['--cluster-enabled', 'yes']. */
  args?: string[]
  /** A config file to pass first (Sentinel needs one it can rewrite). */
  configFile?: string
  /** Start in Sentinel mode. */
  sentinel?: boolean
  port?: number
  dir?: string
}

/**
 * A real redis-server process on a free loopback port, with the levers fault tests need:
 * pause (SIGSTOP: connections open, nothing answers), resume, kill (SIGKILL), restart.
 */
export class RedisServer {
  readonly host = '127.0.0.1'
  readonly port: number
  readonly dir: string
  private child: ChildProcess | undefined
  private readonly options: RedisServerOptions
  private admin: Redis | undefined
  private readonly ownsDir: boolean

  private constructor (port: number, dir: string, ownsDir: boolean, options: RedisServerOptions) {
    this.port = port
    this.dir = dir
    this.ownsDir = ownsDir
    this.options = options
  }

  /** Starts a server and resolves once it answers PING. */
  static async start (options: RedisServerOptions = {}): Promise<RedisServer> {
    const port = options.port ?? await freePort()
    const ownsDir = options.dir === undefined
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'scaleout-redis-'))
    const server = new RedisServer(port, dir, ownsDir, options)
    await server.spawn()
    return server
  }

  get url (): string {
    return `redis://${this.host}:${this.port}`
  }

  get pid (): number | undefined {
    return this.child?.pid
  }

  get running (): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  private async spawn (): Promise<void> {
    const { args = [], configFile, sentinel = false } = this.options
    const argv = [
      ...(configFile !== undefined ? [configFile] : []),
      ...(sentinel ? ['--sentinel'] : []),
      '--port', String(this.port),
      '--bind', this.host,
      '--dir', this.dir,
      '--daemonize', 'no',
      '--protected-mode', 'no',
      ...(sentinel ? [] : ['--save', '', '--appendonly', 'no']),
      '--loglevel', 'warning',
      ...args
    ]
    const child = spawn(binary('redis-server', 'REDIS_SERVER'), argv, { stdio: ['ignore', 'ignore', 'pipe'] })
    track(child)
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    this.child = child
    try {
      await waitUntil(`redis-server on port ${this.port}`, async () => {
        if (!this.running) throw new Error('exited')
        return (await rawCommand(this.port, 'PING', 500)).startsWith('+PONG')
      }, 10_000)
    } catch (err) {
      if (!this.running) throw new Error(`redis-server exited at start on port ${this.port}: ${stderr.trim()}`)
      throw err
    }
  }

  /** A new ioredis client to this server; the caller quits it. */
  client (options: RedisOptions = {}): Redis {
    return new Redis({ host: this.host, port: this.port, lazyConnect: false, maxRetriesPerRequest: 1, ...options })
  }

  /** SIGSTOP: TCP still accepts, nothing answers. What a hung or overloaded server looks like. */
  pause (): void {
    if (this.child?.pid !== undefined) process.kill(this.child.pid, 'SIGSTOP')
  }

  resume (): void {
    if (this.child?.pid !== undefined) process.kill(this.child.pid, 'SIGCONT')
  }

  /** SIGKILL, and wait until the process is gone. Data is lost (no persistence). */
  async kill (): Promise<void> {
    const child = this.child
    if (child === undefined || !this.running) return
    const exited = once(child, 'exit')
    process.kill(child.pid as number, 'SIGCONT')
    child.kill('SIGKILL')
    await exited
    this.admin?.disconnect()
    this.admin = undefined
  }

  /** Kills the server if it runs, then starts it again on the same port and directory. */
  async restart (): Promise<void> {
    await this.kill()
    await this.spawn()
  }

  /** Kills the server (paused or not: kill continues it first) and removes its directory. */
  async stop (): Promise<void> {
    await this.kill()
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true })
  }

  private adminClient (): Redis {
    this.admin ??= new Redis({ host: this.host, port: this.port, maxRetriesPerRequest: 1, enableAutoPipelining: false })
    return this.admin
  }

  /** Cumulative call counts per command (`INFO commandstats`), e.g. { get: 3, 'client|setinfo': 2 }. */
  async commandStats (): Promise<Record<string, number>> {
    const info = await this.adminClient().info('commandstats')
    const stats: Record<string, number> = {}
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      stats[match[1] as string] = Number(match[2])
    }
    return stats
  }

  /**
   * Runs `fn` and returns which commands the server executed meanwhile (INFO itself excluded).
   * Only meaningful when nothing else talks to this server during `fn`.
   */
  async countCommands<T> (fn: () => Promise<T>): Promise<{ result: T, commands: Record<string, number>, total: number }> {
    const before = await this.commandStats()
    const result = await fn()
    const after = await this.commandStats()
    const commands: Record<string, number> = {}
    let total = 0
    for (const [name, calls] of Object.entries(after)) {
      const delta = calls - (before[name] ?? 0)
      if (delta > 0 && name !== 'info') {
        commands[name] = delta
        total += delta
      }
    }
    return { result, commands, total }
  }

  /** Empties the server between tests (on the server's own admin connection). */
  async flushAll (): Promise<void> {
    await this.adminClient().flushall()
  }
}
