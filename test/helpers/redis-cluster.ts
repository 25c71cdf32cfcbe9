import { spawnSync } from 'node:child_process'
import { Cluster, type ClusterOptions } from 'ioredis'
import { freePort, waitUntil } from './ports.js'
import { binary } from './processes.js'
import { RedisServer } from './redis-server.js'
import { rawCommand } from './resp.js'

/** A real 3-master Redis Cluster (no replicas) on loopback, slots spread by redis-cli. */
export class RedisClusterHarness {
  readonly nodes: RedisServer[]

  private constructor (nodes: RedisServer[]) {
    this.nodes = nodes
  }

  static async start (masters = 3): Promise<RedisClusterHarness> {
    const nodes: RedisServer[] = []
    try {
      for (let i = 0; i < masters; i++) {
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
        '--cluster', 'create', ...nodes.map((n) => `${n.host}:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'
      ], { encoding: 'utf8', timeout: 30_000 })
      if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`)
      const harness = new RedisClusterHarness(nodes)
      await harness.waitHealthy()
      return harness
    } catch (err) {
      await Promise.all(nodes.map(async (n) => await n.stop()))
      throw err
    }
  }

  /** Waits until every node reports cluster_state:ok and knows all nodes. */
  async waitHealthy (): Promise<void> {
    await waitUntil('cluster_state:ok on every node', async () => {
      for (const node of this.nodes) {
        const info = await rawCommand(node.port, 'CLUSTER INFO', 1000)
        if (!info.includes('cluster_state:ok') || !info.includes(`cluster_known_nodes:${this.nodes.length}`)) return false
      }
      return true
    }, 20_000, 100)
  }

  /** Node URLs, as the `{ cluster: [...] }` option takes them. */
  get urls (): string[] {
    return this.nodes.map((n) => n.url)
  }

  /** A new ioredis Cluster client; the caller quits it. */
  client (options: ClusterOptions = {}): Cluster {
    return new Cluster(this.nodes.map((n) => ({ host: n.host, port: n.port })), options)
  }

  /** The node that serves `key`'s slot. */
  async nodeFor (key: string): Promise<RedisServer> {
    const reply = await rawCommand(this.nodes[0]!.port, `CLUSTER KEYSLOT ${key}`)
    const slot = Number(reply.slice(1))
    const slots = await rawCommand(this.nodes[0]!.port, 'CLUSTER NODES', 1000)
    for (const line of slots.split('\n')) {
      const parts = line.trim().split(' ')
      const port = Number(parts[1]?.split(':')[1]?.split('@')[0])
      for (const range of parts.slice(8)) {
        const [from, to = from] = range.split('-').map(Number)
        if (from !== undefined && to !== undefined && slot >= from && slot <= to) {
          const node = this.nodes.find((n) => n.port === port)
          if (node !== undefined) return node
        }
      }
    }
    throw new Error(`no node serves slot ${slot}`)
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

  async flushAll (): Promise<void> {
    await Promise.all(this.nodes.map(async (n) => await n.flushAll()))
  }

  async stop (): Promise<void> {
    await Promise.all(this.nodes.map(async (n) => await n.stop()))
  }
}
