import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort, waitUntil } from './ports.js'
import { RedisServer } from './redis-server.js'
import { rawCommand } from './resp.js'

/** A primary, one replica and one Sentinel watching them under the name `masterName`. */
export class RedisSentinelHarness {
  readonly masterName: string
  readonly primary: RedisServer
  readonly replica: RedisServer
  readonly sentinel: RedisServer

  private constructor (masterName: string, primary: RedisServer, replica: RedisServer, sentinel: RedisServer) {
    this.masterName = masterName
    this.primary = primary
    this.replica = replica
    this.sentinel = sentinel
  }

  static async start (masterName = 'scaleout'): Promise<RedisSentinelHarness> {
    const started: RedisServer[] = []
    try {
      const primary = await RedisServer.start()
      started.push(primary)
      const replica = await RedisServer.start({ args: ['--replicaof', primary.host, String(primary.port)] })
      started.push(replica)
      const sentinelPort = await freePort()
      // Sentinel rewrites its config file, so it lives in the replica's scratch directory.
      const configFile = join(replica.dir, `sentinel-${sentinelPort}.conf`)
      writeFileSync(configFile, [
        `sentinel monitor ${masterName} ${primary.host} ${primary.port} 1`,
        `sentinel down-after-milliseconds ${masterName} 1000`,
        `sentinel failover-timeout ${masterName} 5000`,
        ''
      ].join('\n'))
      const sentinel = await RedisServer.start({ port: sentinelPort, configFile, sentinel: true, dir: replica.dir })
      started.push(sentinel)
      await waitUntil('the replica to sync', async () =>
        (await rawCommand(replica.port, 'INFO replication', 1000)).includes('master_link_status:up'), 15_000, 100)
      await waitUntil('Sentinel to see the primary', async () =>
        (await rawCommand(sentinel.port, `SENTINEL get-master-addr-by-name ${masterName}`, 1000)).includes(String(primary.port)), 15_000, 100)
      return new RedisSentinelHarness(masterName, primary, replica, sentinel)
    } catch (err) {
      await Promise.all(started.reverse().map(async (s) => await s.stop()))
      throw err
    }
  }

  /** What the `{ sentinels, name }` option takes. */
  get connection (): { sentinels: Array<{ host: string, port: number }>, name: string } {
    return { sentinels: [{ host: this.sentinel.host, port: this.sentinel.port }], name: this.masterName }
  }

  /** A plain client to the primary, for checking state. */
  primaryClient (): Redis {
    return this.primary.client()
  }

  async stop (): Promise<void> {
    await this.sentinel.kill()
    await this.replica.kill()
    await this.primary.stop()
    await this.replica.stop()
  }
}
