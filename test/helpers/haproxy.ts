import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, sleep } from './ports.js'
import { accepting, stopChild, track } from './processes.js'

// Real HAProxy for tests: a foreground process (-db) with its config in a temp directory.

export interface RunningHaproxy {
  port: number
  configText: string
  output: () => string
  stop: () => Promise<void>
}

export const HAPROXY_BINARY = process.env.HAPROXY_BINARY ?? 'haproxy'

/** Starts the real haproxy binary with `config(port)`, which must bind 127.0.0.1:<port>. */
export async function startHaproxy (config: (port: number) => string, readyTimeoutMs = 10_000): Promise<RunningHaproxy> {
  const probe = spawnSync(HAPROXY_BINARY, ['-v'], { encoding: 'utf8' })
  if (probe.error !== undefined || probe.status !== 0) throw new Error(`haproxy not found as ${HAPROXY_BINARY}: install it with "apt-get install haproxy" or set HAPROXY_BINARY`)
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'scaleout-haproxy-'))
  const configText = config(port)
  writeFileSync(join(dir, 'haproxy.cfg'), configText)
  let output = ''
  const child = spawn(HAPROXY_BINARY, ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'pipe', 'pipe'] })
  track(child)
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const stop = async (): Promise<void> => {
    await stopChild(child, 'SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + readyTimeoutMs
  while (!(await accepting(port))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await stop()
      throw new Error(`haproxy did not listen on ${port}: ${output}`)
    }
    await sleep(25)
  }
  return { port, configText, output: () => output, stop }
}
