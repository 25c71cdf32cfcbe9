import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import WebSocket from 'ws'
import { now, type PublishCommand, type PublishReport } from './broadcast-protocol.js'

// The driver side of the broadcast benchmark: instance processes, WebSocket receivers and the
// latency figures. Receivers live in the driver process, so "publish-to-delivery" is measured on
// one clock: stamped in the publishing instance, read when the frame reaches a client.

export interface Instance { child: ChildProcess, wsUrl: string }

export async function startInstance (server: string, redisUrl: string, connectionName: string): Promise<Instance> {
  const child = fork(join(import.meta.dirname, 'broadcast-instance.ts'), [server, redisUrl, connectionName], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const [message] = await Promise.race([
    once(child, 'message') as Promise<[{ port: number }]>,
    once(child, 'exit').then(([code]) => { throw new Error(`${server}: instance exited with ${String(code)} before listening`) })
  ])
  return { child, wsUrl: `ws://127.0.0.1:${message.port}/ws` }
}

export async function stopInstance (instance: Instance): Promise<void> {
  if (instance.child.exitCode !== null) return
  const exited = once(instance.child, 'exit')
  instance.child.send('stop')
  const timer = setTimeout(() => instance.child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

/** Collects the latency of every frame its sockets receive. */
export class Receivers {
  readonly sockets: WebSocket[] = []
  private latencies: number[] = []

  async connect (wsUrl: string, count: number): Promise<void> {
    for (let i = 0; i < count; i += 100) {
      this.sockets.push(...await Promise.all(Array.from({ length: Math.min(100, count - i) }, async () => {
        const ws = new WebSocket(wsUrl)
        ws.on('message', (data: Buffer) => {
          const frame = JSON.parse(data.toString()) as { data: { t: number } }
          this.latencies.push(now() - frame.data.t)
        })
        await once(ws, 'open')
        return ws
      })))
    }
  }

  reset (): void {
    this.latencies = []
  }

  get received (): number {
    return this.latencies.length
  }

  take (): number[] {
    const taken = this.latencies
    this.latencies = []
    return taken
  }

  close (): void {
    for (const ws of this.sockets) ws.terminate()
    this.sockets.length = 0
  }
}

export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)] as number
}

export interface Measure { rate: number, published: number, expected: number, received: number, deliveredPerSec: number, p50: number, p99: number, remoteFailures: number }

/** One publish run on `publisher` at `rate` for `seconds`, measured on `receivers`. */
export async function measure (publisher: Instance, receivers: Receivers, rate: number, seconds: number): Promise<Measure> {
  receivers.reset()
  const command: PublishCommand = { cmd: 'publish', rate, seconds }
  publisher.child.send(command)
  const [report] = await once(publisher.child, 'message') as [PublishReport]
  const expected = report.published * receivers.sockets.length
  // Stragglers: wait until everything arrived, or at most 2 s more.
  const deadline = Date.now() + 2000
  while (receivers.received < expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  const latencies = receivers.take().sort((a, b) => a - b)
  return {
    rate,
    published: report.published,
    expected,
    received: latencies.length,
    deliveredPerSec: latencies.length / report.seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    remoteFailures: report.remoteFailures
  }
}
