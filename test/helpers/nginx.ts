import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, sleep } from './ports.js'
import { accepting, stopChild, track } from './processes.js'

// Real nginx for tests: a foreground process (no daemon, no master) with its own prefix directory,
// so its pid file, logs and temp files never touch /etc/nginx, /var/log or /var/lib/nginx.

/** What a config function receives. */
export interface NginxContext {
  /** Free loopback ports reserved for this nginx, `ports` of them. */
  ports: number[]
  /** The temp prefix directory (logs, pid, temp files); removed on stop(). */
  prefix: string
}

export interface NginxOptions {
  /**
   * The main-context configuration (an `http { }` and/or `stream { }` block, upstreams, servers).
   * `worker_processes`, `pid`, `error_log` and `events` are added for you; every `http {` block gets
   * temp paths and an access log inside the prefix, so do not set those yourself.
   */
  config: (context: NginxContext) => string
  /** How many free ports to reserve (default 1). */
  ports?: number
  /** How long to wait for every port to accept connections (default 10 s). */
  readyTimeoutMs?: number
}

export interface RunningNginx {
  ports: number[]
  /** The first port. */
  port: number
  prefix: string
  /** The complete config file nginx runs with. */
  configText: string
  /** The error log so far (startup problems, `error_log ... debug` output). */
  errorLog: () => string
  stop: () => Promise<void>
}

export const NGINX_BINARY = process.env.NGINX_BINARY ?? '/usr/sbin/nginx'

function checkBinary (): void {
  const probe = spawnSync(NGINX_BINARY, ['-v'], { encoding: 'utf8' })
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(`nginx not found at ${NGINX_BINARY}: install it with "apt-get install nginx" or set NGINX_BINARY`)
  }
}

function wrap (body: string, prefix: string): string {
  const http = [
    `client_body_temp_path ${prefix}/client_body;`,
    `proxy_temp_path ${prefix}/proxy;`,
    `fastcgi_temp_path ${prefix}/fastcgi;`,
    `uwsgi_temp_path ${prefix}/uwsgi;`,
    `scgi_temp_path ${prefix}/scgi;`,
    `access_log ${prefix}/access.log;`
  ].join(' ')
  return [
    'worker_processes 1;',
    `pid ${prefix}/nginx.pid;`,
    `error_log ${prefix}/error.log warn;`,
    'events { worker_connections 1024; }',
    body.replace(/\bhttp\s*\{/g, (open) => `${open}\n  ${http}\n`)
  ].join('\n')
}

async function startOnce (options: NginxOptions): Promise<RunningNginx> {
  const prefix = mkdtempSync(join(tmpdir(), 'scaleout-nginx-'))
  const ports: number[] = []
  for (let i = 0; i < (options.ports ?? 1); i++) ports.push(await freePort())
  const configText = wrap(options.config({ ports, prefix }), prefix)
  mkdirSync(join(prefix, 'logs'))
  writeFileSync(join(prefix, 'nginx.conf'), configText)
  const errorFile = join(prefix, 'error.log')
  const errorLog = (): string => existsSync(errorFile) ? readFileSync(errorFile, 'utf8') : ''
  let output = ''
  const child = spawn(NGINX_BINARY, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', errorFile, '-g', 'daemon off; master_process off;'], {
    stdio: ['ignore', 'pipe', 'pipe']
  })
  track(child)
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const stop = async (): Promise<void> => {
    await stopChild(child, 'SIGQUIT')
    rmSync(prefix, { recursive: true, force: true })
  }
  const deadline = Date.now() + (options.readyTimeoutMs ?? 10_000)
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = errorLog()
      await stop()
      throw Object.assign(new Error(`nginx exited before listening: ${output}${log}`), { addressInUse: /Address already in use/.test(log + output) })
    }
    const ready = await Promise.all(ports.map(accepting))
    if (ready.every(Boolean)) break
    if (Date.now() > deadline) {
      const log = errorLog()
      await stop()
      throw new Error(`nginx did not listen on ${ports.join(', ')} within ${options.readyTimeoutMs ?? 10_000}ms: ${output}${log}`)
    }
    await sleep(25)
  }
  return { ports, port: ports[0] as number, prefix, configText, errorLog, stop }
}

/**
 * Starts the real nginx binary on free loopback ports with the given configuration; retries with
 * other ports if one was taken in between.
 */
export async function startNginx (options: NginxOptions): Promise<RunningNginx> {
  checkBinary()
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options)
    } catch (err) {
      if (attempt >= 3 || (err as { addressInUse?: boolean }).addressInUse !== true) throw err
    }
  }
}
