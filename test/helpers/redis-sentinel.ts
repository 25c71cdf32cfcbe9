import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort, waitUntil } from './ports.js'
import { RedisServer } from './redis-server.js'
import { rawCommand } from './resp.js'

export interface SentinelHarnessOptions {
  masterName?: string
  /** Replicas of the primary. Default 1. */
  replicas?: number
  /** Sentinels watching it; the quorum is a majority of them. Default 1. */
  sentinels?: number
}

/**
 * A primary, its replicas and the Sentinels watching them under `masterName`, on loopback. With
 * two replicas and three Sentinels (`{ replicas: 2, sentinels: 3 }`) a killed primary is replaced:
 * `killPrimary()` then `waitPromotion()`.
 */
export class RedisSentinelHarness {
  readonly masterName: string
  /** Every data node, the first primary first; `primary` is whichever Sentinel promoted last. */
  readonly servers: RedisServer[]
  readonly sentinels: RedisServer[]
  primary: RedisServer
  private readonly scratch: string

  private constructor (masterName: string, servers: RedisServer[], sentinels: RedisServer[], scratch: string) {
    this.masterName = masterName
    this.servers = servers
    this.sentinels = sentinels
    this.primary = servers[0] as RedisServer
    this.scratch = scratch
  }

  static async start (options: SentinelHarnessOptions | string = {}): Promise<RedisSentinelHarness> {
    const { masterName = 'scaleout', replicas = 1, sentinels = 1 } = typeof options === 'string' ? { masterName: options } : options
    // Sentinel rewrites its config file, so each gets one in a scratch directory of the harness.
    const scratch = mkdtempSync(join(tmpdir(), 'scaleout-sentinel-'))
    const servers: RedisServer[] = []
    const watchers: RedisServer[] = []
    const harness = new RedisSentinelHarness(masterName, servers, watchers, scratch)
    try {
      const primary = await RedisServer.start()
      servers.push(primary)
      harness.primary = primary
      for (let i = 0; i < replicas; i++) {
        servers.push(await RedisServer.start({ args: ['--replicaof', primary.host, String(primary.port)] }))
      }
      const quorum = Math.floor(sentinels / 2) + 1
      for (let i = 0; i < sentinels; i++) {
        const port = await freePort()
        const configFile = join(scratch, `sentinel-${port}.conf`)
        writeFileSync(configFile, [
          `sentinel monitor ${masterName} ${primary.host} ${primary.port} ${quorum}`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 5000`,
          ''
        ].join('\n'))
        watchers.push(await RedisServer.start({ port, configFile, sentinel: true, dir: scratch }))
      }
      for (const replica of servers.slice(1)) {
        await waitUntil('the replica to sync', async () =>
          (await rawCommand(replica.port, 'INFO replication', 1000)).includes('master_link_status:up'), 15_000, 100)
      }
      // A failover needs every Sentinel to know the others (to elect a leader) and the replicas
      // (to pick one): both are learnt from hello messages, every 2 s.
      for (const sentinel of watchers) {
        await waitUntil('Sentinel to know the primary, its replicas and the other Sentinels', async () => {
          if (!(await rawCommand(sentinel.port, `SENTINEL get-master-addr-by-name ${masterName}`, 1000)).includes(String(primary.port))) return false
          const master = await rawCommand(sentinel.port, `SENTINEL master ${masterName}`, 1000)
          return field(master, 'num-slaves') === replicas && field(master, 'num-other-sentinels') === sentinels - 1
        }, 20_000, 100)
      }
      return harness
    } catch (err) {
      await harness.stop()
      throw err
    }
  }

  /** The first replica (of the initial set-up). */
  get replica (): RedisServer {
    return this.servers[1] as RedisServer
  }

  /** The first Sentinel. */
  get sentinel (): RedisServer {
    return this.sentinels[0] as RedisServer
  }

  /** What the `{ sentinels, name }` option takes: every Sentinel. */
  get connection (): { sentinels: Array<{ host: string, port: number }>, name: string } {
    return { sentinels: this.sentinels.map((s) => ({ host: s.host, port: s.port })), name: this.masterName }
  }

  /** A plain client to the current primary, for checking state. */
  primaryClient (): Redis {
    return this.primary.client()
  }

  /** The port of the primary as the first answering Sentinel reports it. */
  async reportedPrimaryPort (): Promise<number> {
    for (const sentinel of this.sentinels) {
      if (!sentinel.running) continue
      const reply = await rawCommand(sentinel.port, `SENTINEL get-master-addr-by-name ${this.masterName}`, 1000)
      const port = Number(/\r\n(\d+)\r\n$/.exec(reply)?.[1])
      if (port > 0) return port
    }
    throw new Error('no Sentinel answered')
  }

  /** SIGKILLs the current primary (no persistence: what it had not replicated is gone); returns it. */
  async killPrimary (): Promise<RedisServer> {
    const old = this.primary
    await old.kill()
    return old
  }

  /**
   * Waits until every Sentinel names another data node as primary and that node says it is one;
   * `primary` then points at it, and is what it resolves with.
   */
  async waitPromotion (timeoutMs = 30_000): Promise<RedisServer> {
    const old = this.primary
    let promoted: RedisServer | undefined
    await waitUntil(`Sentinel to promote a replica of ${old.port}`, async () => {
      const ports = await Promise.all(this.sentinels.filter((s) => s.running).map(async (s) =>
        Number(/\r\n(\d+)\r\n$/.exec(await rawCommand(s.port, `SENTINEL get-master-addr-by-name ${this.masterName}`, 1000))?.[1])))
      const port = ports[0]
      if (port === undefined || port === old.port || ports.some((p) => p !== port)) return false
      const candidate = this.servers.find((s) => s.port === port)
      if (candidate === undefined) return false
      if (!(await rawCommand(candidate.port, 'INFO replication', 1000)).includes('role:master')) return false
      promoted = candidate
      return true
    }, timeoutMs, 50)
    this.primary = promoted as RedisServer
    return this.primary
  }

  async stop (): Promise<void> {
    await Promise.all(this.sentinels.map(async (s) => await s.stop()))
    await Promise.all(this.servers.map(async (s) => await s.stop()))
    rmSync(this.scratch, { recursive: true, force: true })
  }
}

/** A field of a RESP2 flat map reply (`SENTINEL master`), as a number. */
function field (reply: string, name: string): number {
  const lines = reply.split('\r\n')
  const at = lines.indexOf(name)
  return at < 0 ? Number.NaN : Number(lines[at + 2])
}
