import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, waitUntil } from '../test/helpers/index.js'

const deploy = join(import.meta.dirname, '..', 'deploy')
// The shipped configs name these addresses; tests swap in free ports and nothing else.
const SHIPPED_FRONT = '127.0.0.1:8080'
const SHIPPED_INSTANCES = ['127.0.0.1:3001', '127.0.0.1:3002', '127.0.0.1:3003']

/** The shipped config with its listen port and instance ports replaced. */
export function fillPorts (config: string, front: number, instancePorts: number[]): string {
  if (instancePorts.length !== SHIPPED_INSTANCES.length) throw new Error(`the shipped configs list ${SHIPPED_INSTANCES.length} instances`)
  // Every address swapped must be there, and no other one left: a shipped file whose ports changed
  // would otherwise run with an address nobody swapped (another process's port on this machine).
  for (const address of [SHIPPED_FRONT, ...SHIPPED_INSTANCES]) {
    if (!config.includes(address)) throw new Error(`the shipped config no longer names ${address}`)
  }
  let filled = config.split(SHIPPED_FRONT).join(`127.0.0.1:${front}`)
  SHIPPED_INSTANCES.forEach((address, i) => { filled = filled.split(address).join(`127.0.0.1:${instancePorts[i] as number}`) })
  const ours = new Set([front, ...instancePorts].map((port) => `127.0.0.1:${port}`))
  const other = (filled.match(/\b\d{1,3}(?:\.\d{1,3}){3}:\d+/g) ?? []).find((address) => !ours.has(address))
  if (other !== undefined) throw new Error(`the shipped config names ${other}, which the tests do not swap`)
  return filled
}

export interface Balancer {
  name: 'nginx' | 'haproxy'
  port: number
  url: string
  output: () => string
  stop: () => Promise<void>
}

async function run (name: Balancer['name'], command: string, args: string[], port: number, dir: string): Promise<Balancer> {
  let output = ''
  const child: ChildProcess = spawn(command, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      // SIGTERM, not SIGKILL: nginx's master takes its worker down with it (a SIGKILLed master
      // leaves an orphan worker holding the port and our pipes).
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitUntil(`${name} listening on ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`${name} exited: ${output}`)
      return (await fetch(`http://127.0.0.1:${port}/health/live`)).status === 200
    }, 15_000, 100)
  } catch (err) {
    await stop()
    throw err
  }
  return { name, port, url: `http://127.0.0.1:${port}`, output: () => output, stop }
}

/** Real nginx with deploy/nginx.conf, in a private prefix directory. */
export async function startNginx (instancePorts: number[]): Promise<Balancer> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'scaleout-e2e-nginx-'))
  // Run as root, nginx's workers run as nobody: they must reach the prefix (mkdtemp makes it 0700)
  // to write request bodies over client_body_buffer_size into tmp/body (else 500).
  chmodSync(dir, 0o755)
  mkdirSync(join(dir, 'tmp'))
  writeFileSync(join(dir, 'nginx.conf'), fillPorts(readFileSync(join(deploy, 'nginx.conf'), 'utf8'), port, instancePorts))
  return await run('nginx', '/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'], port, dir)
}

/** Real HAProxy with deploy/haproxy.cfg. */
export async function startHaproxy (instancePorts: number[]): Promise<Balancer> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'scaleout-e2e-haproxy-'))
  writeFileSync(join(dir, 'haproxy.cfg'), fillPorts(readFileSync(join(deploy, 'haproxy.cfg'), 'utf8'), port, instancePorts))
  return await run('haproxy', 'haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], port, dir)
}

/** `nginx -t` / `haproxy -c` on the shipped files, as CI runs them. */
export function checkShippedConfigs (): { nginx: ReturnType<typeof spawnSync>, haproxy: ReturnType<typeof spawnSync> } {
  const dir = mkdtempSync(join(tmpdir(), 'scaleout-e2e-check-'))
  mkdirSync(join(dir, 'tmp'))
  try {
    return {
      nginx: spawnSync('/usr/sbin/nginx', ['-t', '-p', dir, '-c', join(deploy, 'nginx.conf'), '-e', 'stderr'], { encoding: 'utf8' }),
      haproxy: spawnSync('haproxy', ['-c', '-f', join(deploy, 'haproxy.cfg')], { encoding: 'utf8' })
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
