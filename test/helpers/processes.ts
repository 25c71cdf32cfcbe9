import { spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'

// Every server a test starts is registered here and SIGKILLed when the test process exits,
// however it exits, so a failed assertion never leaves a redis-server behind.
const live = new Set<ChildProcess>()
let hooked = false

function killAll (): void {
  for (const child of live) {
    try {
      if (child.pid !== undefined) {
        process.kill(child.pid, 'SIGCONT')
        process.kill(child.pid, 'SIGKILL')
      }
    } catch {
      // already gone
    }
  }
  live.clear()
}

export function track (child: ChildProcess): void {
  live.add(child)
  child.once('exit', () => live.delete(child))
  if (!hooked) {
    hooked = true
    process.once('exit', killAll)
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        killAll()
        process.exit(130)
      })
    }
  }
}

/** Resolves the binary once per process; fails with one line that says how to get it. */
const resolved = new Map<string, string>()
export function binary (name: 'redis-server' | 'redis-cli', envVar: string): string {
  const cached = resolved.get(name)
  if (cached !== undefined) return cached
  const fromEnv = process.env[envVar]
  const candidate = fromEnv !== undefined && fromEnv !== '' ? fromEnv : name
  const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(`${name} not found (looked for ${JSON.stringify(candidate)}): install it with "apt-get install redis-server" or set ${envVar} to its path`)
  }
  resolved.set(name, candidate)
  return candidate
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export async function accepting (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

/** Sends `signal` (the program's graceful stop), then SIGKILL if it has not exited within 5 s. */
export async function stopChild (child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}
