import { spawnSync } from 'node:child_process'
import { Cluster, type ClusterOptions } from 'ioredis'
import { freePort, waitUntil } from './ports.js'
import { binary } from './processes.js'
import { RedisServer } from './redis-server.js'
import { rawCommand } from './resp.js'

/** One line of CLUSTER NODES. */
export interface ClusterNodeLine {
  port: number
  role: 'master' | 'slave'
  /** The node is flagged fail (or fail?) by the node asked. */
  failing: boolean
  /** Slot ranges it serves, as [from, to]. */
  slots: Array<[number, number]>
}

/**
 * A real Redis Cluster on loopback, slots spread by redis-cli: 3 masters by default, and with
 * `replicas` that many replicas per master, so a killed master (`killMasterOf`) is replaced by its
 * replica (`waitPromotion`). `nodes` lists every node, masters and replicas alike.
 */
export class RedisClusterHarness {
  readonly nodes: RedisServer[]
  /** First slot of each range a killed master served, by its port. */
  private readonly slotsOf = new Map<number, number[]>()

  /** Replicas per master at start. */
  private readonly replicas: number

  private constructor (nodes: RedisServer[], replicas: number) {
    this.nodes = nodes
    this.replicas = replicas
  }

  static async start (masters = 3, replicas = 0): Promise<RedisClusterHarness> {
    const nodes: RedisServer[] = []
    try {
      for (let i = 0; i < masters * (1 + replicas); i++) {
        nodes.push(await RedisServer.start({
          args: [
            '--cluster-enabled', 'yes',
            '--cluster-config-file', 'nodes.conf',
            '--cluster-port', String(await freePort()),
            '--cluster-node-timeout', '2000'
          ]
        }))
      }
      const created = spawnSync(binary('redis-cli', 'REDIS_CLI'), [
        '--cluster', 'create', ...nodes.map((n) => `${n.host}:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'
      ], { encoding: 'utf8', timeout: 30_000 })
      if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`)
      const harness = new RedisClusterHarness(nodes, replicas)
      await harness.waitHealthy()
      return harness
    } catch (err) {
      await Promise.all(nodes.map(async (n) => await n.stop()))
      throw err
    }
  }

  /** Waits until every running node reports cluster_state:ok and knows all nodes, and the replicas have synced. */
  async waitHealthy (): Promise<void> {
    await waitUntil('cluster_state:ok on every node', async () => {
      for (const node of this.nodes.filter((n) => n.running)) {
        const info = await rawCommand(node.port, 'CLUSTER INFO', 1000)
        if (!info.includes('cluster_state:ok') || !info.includes(`cluster_known_nodes:${this.nodes.length}`)) return false
      }
      // Replicas not yet known as such everywhere, or not yet synced, could not take over.
      const lines = await this.topology()
      const masters = lines.filter((l) => l.role === 'master' && l.slots.length > 0).length
      if (lines.filter((l) => l.role === 'slave' && !l.failing).length < masters * this.replicas) return false
      for (const line of lines.filter((l) => l.role === 'slave' && !l.failing)) {
        if (!(await rawCommand(line.port, 'INFO replication', 1000)).includes('master_link_status:up')) return false
      }
      return true
    }, 20_000, 100)
  }

  /** CLUSTER NODES as a running node sees it. */
  async topology (): Promise<ClusterNodeLine[]> {
    const asked = this.nodes.find((n) => n.running)
    if (asked === undefined) throw new Error('no node runs')
    const text = await rawCommand(asked.port, 'CLUSTER NODES', 1000)
    return text.split('\n').filter((line) => /^[0-9a-f]{40} /.test(line.trim())).map((line) => {
      const parts = line.trim().split(' ')
      const flags = parts[2]?.split(',') ?? []
      return {
        port: Number(parts[1]?.split(':')[1]?.split('@')[0]),
        role: flags.includes('master') ? 'master' : 'slave',
        failing: flags.includes('fail') || flags.includes('fail?'),
        slots: parts.slice(8).filter((r) => !r.startsWith('[')).map((r) => {
          const [from, to = from] = r.split('-').map(Number) as [number, number?]
          return [from, to] as [number, number]
        })
      }
    })
  }

  /** The master serving `key`'s slot, as a running node sees it now. */
  async nodeFor (key: string): Promise<RedisServer> {
    const asked = this.nodes.find((n) => n.running) as RedisServer
    const slot = Number((await rawCommand(asked.port, `CLUSTER KEYSLOT ${key}`)).slice(1))
    for (const line of await this.topology()) {
      if (line.role !== 'master' || !line.slots.some(([from, to]) => slot >= from && slot <= to)) continue
      const node = this.nodes.find((n) => n.port === line.port)
      if (node !== undefined) return node
    }
    throw new Error(`no node serves slot ${slot}`)
  }

  /** SIGKILLs the master serving `key`'s slot; returns it, for `waitPromotion`. */
  async killMasterOf (key: string): Promise<RedisServer> {
    const master = await this.nodeFor(key)
    const line = (await this.topology()).find((l) => l.port === master.port)
    this.slotsOf.set(master.port, line?.slots.map(([from]) => from) ?? [])
    await master.kill()
    return master
  }

  /**
   * Waits until another master (its replica, promoted) serves the slots `dead` served when it was
   * killed, and every running node reports cluster_state:ok; resolves with the new master.
   */
  async waitPromotion (dead: RedisServer, timeoutMs = 30_000): Promise<RedisServer> {
    const starts = this.slotsOf.get(dead.port)
    if (starts === undefined || starts.length === 0) throw new Error(`${dead.port} was not killed by killMasterOf`)
    let promoted: RedisServer | undefined
    await waitUntil(`a replica of ${dead.port} to take its slots`, async () => {
      const line = (await this.topology()).find((l) => l.port !== dead.port && l.role === 'master' && !l.failing &&
        starts.every((from) => l.slots.some(([f]) => f === from)))
      promoted = this.nodes.find((n) => n.port === line?.port)
      if (promoted === undefined) return false
      for (const node of this.nodes.filter((n) => n.running)) {
        if (!(await rawCommand(node.port, 'CLUSTER INFO', 1000)).includes('cluster_state:ok')) return false
      }
      return true
    }, timeoutMs, 50)
    return promoted as RedisServer
  }

  /** Node URLs, as the `{ cluster: [...] }` option takes them. */
  get urls (): string[] {
    return this.nodes.map((n) => n.url)
  }

  /** A new ioredis Cluster client; the caller quits it. */
  client (options: ClusterOptions = {}): Cluster {
    return new Cluster(this.nodes.map((n) => ({ host: n.host, port: n.port })), options)
  }

  /** Command counts summed over all nodes while `fn` runs. */
  async countCommands<T> (fn: () => Promise<T>): Promise<{ result: T, commands: Record<string, number>, total: number }> {
    const before = await Promise.all(this.nodes.map(async (n) => await n.commandStats()))
    const result = await fn()
    const after = await Promise.all(this.nodes.map(async (n) => await n.commandStats()))
    const commands: Record<string, number> = {}
    let total = 0
    after.forEach((stats, i) => {
      for (const [name, calls] of Object.entries(stats)) {
        const delta = calls - (before[i]?.[name] ?? 0)
        if (delta > 0 && name !== 'info') {
          commands[name] = (commands[name] ?? 0) + delta
          total += delta
        }
      }
    })
    return { result, commands, total }
  }

  /** Empties every master (replicas follow; they refuse FLUSHALL themselves). */
  async flushAll (): Promise<void> {
    const masters = new Set((await this.topology()).filter((l) => l.role === 'master' && !l.failing).map((l) => l.port))
    await Promise.all(this.nodes.filter((n) => masters.has(n.port)).map(async (n) => await n.flushAll()))
  }

  async stop (): Promise<void> {
    await Promise.all(this.nodes.map(async (n) => await n.stop()))
  }
}
