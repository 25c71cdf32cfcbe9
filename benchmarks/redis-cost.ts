// What Redis did for a measured round, per request, read from Redis's own counters.
//
// Commands: the commands the clients sent (INFO commandstats calls after CONFIG RESETSTAT). A script
// counts as one; the commands it runs inside are left out. MULTI, each queued command and EXEC each
// count (the client sent each one).
// CPU: the usec INFO commandstats gives each command, summed over the commands the clients sent, minus
// the commands run inside a script or queued in a MULTI (EVAL/EVALSHA/FCALL's usec already holds the
// former, EXEC's the latter). That is the time Redis spent executing, without the network I/O and
// parsing, which the process CPU column (INFO cpu, user + system) shows beside it.
//
// commandstats does not say which calls of a command ran inside a script or a MULTI. So before its
// rounds each variant runs a short calibration under MONITOR (never during a measured round: MONITOR
// feeds run inside a script's own usec), which sees script commands as "[db lua]" and the queued
// commands between a client's MULTI and EXEC; the measured rounds then leave out that share of each
// command's calls and usec. A command that is both sent and run inside scripts is split by its call
// counts, at the same cost per call.
import type { Redis } from 'ioredis'
import { monitorWhile } from '../test/helpers/index.js'

export interface RedisCost {
  /** Commands the clients sent. */
  commands: number
  /** Redis execution time, µs, each command counted once (see above). */
  usec: number
  /** The redis-server process's user + system CPU, µs (I/O included). */
  processUs: number
}

/** The runner's own commands, left out of every count. */
const OWN = /^(info|config|monitor)(\||$)/

interface Share { inScript: number, queued: number }

export class RedisMeter {
  private shares = new Map<string, Share>()
  private cpuAtStart = 0

  constructor (private readonly admin: Redis) {}

  /** Learns which share of each command's calls runs inside scripts or MULTIs while `work` runs. */
  async calibrate (work: () => Promise<unknown>): Promise<void> {
    const total = new Map<string, number>()
    const inScript = new Map<string, number>()
    const queued = new Map<string, number>()
    const inMulti = new Set<string>()
    const add = (map: Map<string, number>, name: string): void => { map.set(name, (map.get(name) ?? 0) + 1) }
    const { host, port } = this.admin.options
    await monitorWhile(host ?? '127.0.0.1', port ?? 6379, (source, name) => {
      if (OWN.test(name)) return
      add(total, name)
      if (source === 'lua') add(inScript, name)
      else if (name === 'multi') inMulti.add(source)
      else if (name === 'exec' || name === 'discard') inMulti.delete(source)
      else if (inMulti.has(source)) add(queued, name)
    }, work, 200)
    this.shares = new Map([...total].map(([name, calls]) => [name, { inScript: (inScript.get(name) ?? 0) / calls, queued: (queued.get(name) ?? 0) / calls }]))
  }

  /** Starts a measured round. */
  async start (): Promise<void> {
    await this.admin.config('RESETSTAT')
    this.cpuAtStart = await this.cpu()
  }

  /** What Redis did since `start`. */
  async read (): Promise<RedisCost> {
    const processUs = (await this.cpu() - this.cpuAtStart) * 1e6
    const info = await this.admin.info('commandstats')
    let commands = 0
    let usec = 0
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
      const full = match[1] as string
      if (OWN.test(full)) continue
      const share = this.shares.get(full.split('|')[0] as string) ?? { inScript: 0, queued: 0 }
      commands += Number(match[2]) * (1 - share.inScript)
      usec += Number(match[3]) * (1 - share.inScript - share.queued)
    }
    return { commands, usec, processUs }
  }

  private async cpu (): Promise<number> {
    const info = await this.admin.info('cpu')
    return Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1])
  }
}
