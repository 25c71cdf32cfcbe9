import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { freePort, waitUntil } from './ports.js'

// A private PostgreSQL primary and streaming replica for tests: initdb and pg_basebackup -R into fresh
// temp directories, free loopback ports, unix sockets inside the temp directory. Never the
// machine's own server on 5432. Tests run as root and PostgreSQL refuses to, so every server runs
// as the `postgres` OS user, in its own process group so a kill reaches its backends too.

export const USER = 'postgres'
export const PASSWORD = 'scaleout-test-password'
export const DATABASE = 'postgres'

let bindir: string | undefined
/** The PostgreSQL binaries: PG_BINDIR, else `pg_config --bindir`. */
export function pgBinary (name: string): string {
  if (bindir === undefined) {
    const fromEnv = process.env.PG_BINDIR
    if (fromEnv !== undefined && fromEnv !== '') {
      bindir = fromEnv
    } else {
      const probe = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' })
      if (probe.error !== undefined || probe.status !== 0) {
        throw new Error('PostgreSQL binaries not found: install them with "apt-get install postgresql" or set PG_BINDIR')
      }
      bindir = probe.stdout.trim()
    }
  }
  return join(bindir, name)
}

interface OsUser { uid: number, gid: number }
let osUser: OsUser | undefined | null
/** The `postgres` OS user when we run as root (PostgreSQL refuses root), else ourselves. */
export function runAs (): OsUser | undefined {
  if (osUser === undefined) {
    if (process.getuid?.() !== 0) {
      osUser = null
    } else {
      const uid = spawnSync('id', ['-u', USER], { encoding: 'utf8' })
      const gid = spawnSync('id', ['-g', USER], { encoding: 'utf8' })
      if (uid.status !== 0 || gid.status !== 0) throw new Error(`running as root needs an OS user "${USER}" to run PostgreSQL`)
      osUser = { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
    }
  }
  return osUser ?? undefined
}

/** A fresh temp directory the server user owns. */
export function ownedTempDir (prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const user = runAs()
  if (user !== undefined) chownSync(dir, user.uid, user.gid)
  chmodSync(dir, 0o700)
  return dir
}

export function writeOwned (path: string, text: string, mode = 0o600): void {
  writeFileSync(path, text, { mode })
  const user = runAs()
  if (user !== undefined) chownSync(path, user.uid, user.gid)
}

export function runSync (command: string, args: string[]): void {
  const user = runAs()
  const result = spawnSync(command, args, { encoding: 'utf8', ...(user ?? {}) })
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr ?? ''}${result.error?.message ?? ''}`)
}

/**
 * `pid` and every process below it. PostgreSQL backends call setsid(), so a signal to the
 * postmaster's process group does not reach them: pausing a server means stopping each of them.
 */
export function processTree (pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    const list = children.get(ppid) ?? []
    list.push(Number(entry))
    children.set(ppid, list)
  }
  const tree: number[] = []
  const walk = (p: number): void => {
    tree.push(p)
    for (const child of children.get(p) ?? []) walk(child)
  }
  walk(pid)
  return tree
}

function signalAll (pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal)
    } catch {
      // gone
    }
  }
}

// Servers still alive, killed (with everything below them) on any exit of the test process.
const groups = new Set<number>()
let hooked = false
let onSignals = true

/**
 * For a process that handles SIGINT/SIGTERM itself (the example's launcher drains its instances
 * first, then stops its servers): servers are still killed when the process exits, but no signal
 * handler is installed that would exit at once.
 */
export function leaveSignalsToCaller (): void {
  onSignals = false
}
function killGroup (pid: number): void {
  const tree = processTree(pid)
  signalAll(tree, 'SIGKILL')
  signalAll(tree, 'SIGCONT')
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // gone
  }
}
export function trackGroup (child: ChildProcess): void {
  const pid = child.pid as number
  groups.add(pid)
  child.once('exit', () => groups.delete(pid))
  if (hooked) return
  hooked = true
  process.once('exit', () => { for (const group of groups) killGroup(group) })
  if (!onSignals) return
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const group of groups) killGroup(group)
      process.exit(130)
    })
  }
}

/** Spawns a server in its own process group, as the server user. */
export function spawnServer (command: string, args: string[]): { child: ChildProcess, output: () => string } {
  const user = runAs()
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...(user ?? {}) })
  trackGroup(child)
  let output = ''
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-8000) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  return { child, output: () => output }
}

/** Whether a server (PostgreSQL or PgBouncer) takes a connection and answers a query; throws if not. */
export async function answers (config: pg.ClientConfig | string): Promise<true> {
  const client = new pg.Client(config)
  try {
    await client.connect()
    await client.query('SELECT 1')
    return true
  } finally {
    await client.end().catch(() => {})
  }
}

export interface PostgresServerOptions {
  /** Start as a streaming replica of this server (pg_basebackup -R). */
  primary?: PostgresServer
}

/**
 * One postgres server with the levers fault tests need: pause (SIGSTOP on its whole process group:
 * connections open, nothing answers), resume, kill (SIGKILL), start again on the same port and data.
 */
export class PostgresServer {
  readonly host = '127.0.0.1'
  readonly port: number
  readonly dir: string
  readonly dataDir: string
  private child: ChildProcess | undefined
  private output: () => string = () => ''
  private admin: pg.Client | undefined

  private constructor (port: number, dir: string) {
    this.port = port
    this.dir = dir
    this.dataDir = join(dir, 'data')
  }

  /** initdb (or pg_basebackup -R from `options.primary`), then starts the server and waits until it answers. */
  static async start (options: PostgresServerOptions = {}): Promise<PostgresServer> {
    const server = new PostgresServer(await freePort(), ownedTempDir('scaleout-pg-'))
    try {
      if (options.primary === undefined) {
        const pwfile = join(server.dir, 'pwfile')
        writeOwned(pwfile, PASSWORD + '\n')
        runSync(pgBinary('initdb'), [
          '-D', server.dataDir, '-U', USER, '--pwfile', pwfile, '-N', '-E', 'UTF8', '--locale', 'C',
          '--auth-local', 'trust', '--auth-host', 'scram-sha-256'
        ])
      } else {
        const primary = options.primary
        runSync(pgBinary('pg_basebackup'), [
          '-D', server.dataDir, '-R', '-X', 'stream', '-c', 'fast', '-h', primary.dir, '-p', String(primary.port), '-U', USER, '--no-sync'
        ])
      }
      await server.spawn()
    } catch (err) {
      await server.stop()
      throw err
    }
    return server
  }

  /** A replica of this server, streaming from it. */
  async startReplica (): Promise<PostgresServer> {
    return await PostgresServer.start({ primary: this })
  }

  get url (): string {
    return `postgres://${USER}:${PASSWORD}@${this.host}:${this.port}/${DATABASE}`
  }

  /** The pg config object for this server, as a caller would pass it. */
  get config (): pg.ClientConfig {
    return { host: this.host, port: this.port, user: USER, password: PASSWORD, database: DATABASE }
  }

  get pid (): number | undefined {
    return this.child?.pid
  }

  get running (): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  private async spawn (): Promise<void> {
    const { child, output } = spawnServer(pgBinary('postgres'), [
      '-D', this.dataDir,
      '-c', `port=${this.port}`,
      '-c', `listen_addresses=${this.host}`,
      '-c', `unix_socket_directories=${this.dir}`,
      '-c', 'fsync=off',
      '-c', 'full_page_writes=off',
      '-c', 'shared_buffers=16MB',
      '-c', 'max_connections=200',
      '-c', 'wal_receiver_status_interval=1s',
      '-c', 'logging_collector=off',
      '-c', 'log_min_messages=fatal'
    ])
    this.child = child
    this.output = output
    try {
      await waitUntil(`postgres on port ${this.port}`, async () => {
        if (!this.running) throw new Error('exited')
        return await answers({ host: this.dir, port: this.port, user: USER, database: DATABASE })
      }, 30_000, 50)
    } catch (err) {
      if (!this.running) throw new Error(`postgres exited at start on port ${this.port}: ${this.output().trim()}`)
      throw err
    }
  }

  /** A superuser connection over the unix socket (never through anything a test pauses but this server). */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow> (text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.admin === undefined) {
      const admin = new pg.Client({ host: this.dir, port: this.port, user: USER, database: DATABASE })
      admin.on('error', () => { if (this.admin === admin) this.admin = undefined })
      this.admin = admin
      await admin.connect()
    }
    return await this.admin.query<R>(text, values)
  }

  private dropAdmin (): void {
    const admin = this.admin
    this.admin = undefined
    admin?.end().catch(() => {})
  }

  /** SIGSTOP on the postmaster first (so it forks nothing new), then every process below it: TCP still accepts, nothing answers. */
  pause (): void {
    if (this.child?.pid !== undefined) signalAll(processTree(this.child.pid), 'SIGSTOP')
  }

  resume (): void {
    if (this.child?.pid !== undefined) signalAll(processTree(this.child.pid).reverse(), 'SIGCONT')
  }

  /** SIGKILL to the postmaster and every process below it, and wait until the postmaster is gone. */
  async kill (): Promise<void> {
    const child = this.child
    this.dropAdmin()
    if (child === undefined || !this.running) return
    const exited = once(child, 'exit')
    killGroup(child.pid as number)
    await exited
  }

  /** Starts the server again (after kill) on the same port and data directory. */
  async restart (): Promise<void> {
    await this.kill()
    // A killed postmaster leaves its pid file; postgres checks the pid is gone, so it starts cleanly.
    await this.spawn()
  }

  /** Replay delay on a replica (ALTER SYSTEM + reload): 0 removes it. Waits until the setting is live. */
  async setApplyDelay (ms: number): Promise<void> {
    await this.query(`ALTER SYSTEM SET recovery_min_apply_delay = '${Math.round(ms)}ms'`)
    await this.query('SELECT pg_reload_conf()')
    await waitUntil('recovery_min_apply_delay to apply', async () => {
      const { rows } = await this.query<{ setting: string }>("SELECT setting FROM pg_settings WHERE name = 'recovery_min_apply_delay'")
      return rows[0]?.setting === String(Math.round(ms))
    })
  }

  /** The LSN this replica has replayed, or this primary's insert position. */
  async lsn (): Promise<string> {
    const { rows } = await this.query<{ lsn: string }>('SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END::text AS lsn')
    return rows[0]?.lsn as string
  }

  /** Waits until this replica has replayed everything `primary` has inserted so far. */
  async waitCaughtUp (primary: PostgresServer, timeoutMs = 20_000): Promise<void> {
    const target = await primary.lsn()
    await waitUntil('replica to catch up', async () => {
      const { rows } = await this.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [target])
      return rows[0]?.ok === true
    }, timeoutMs, 20)
  }

  /** Kills the server (paused or not) and removes its directory. */
  async stop (): Promise<void> {
    await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** A primary and `replicas` streaming replicas, started once per test file. */
export class PostgresCluster {
  readonly primary: PostgresServer
  readonly replicas: PostgresServer[]

  private constructor (primary: PostgresServer, replicas: PostgresServer[]) {
    this.primary = primary
    this.replicas = replicas
  }

  static async start (replicas = 1): Promise<PostgresCluster> {
    const primary = await PostgresServer.start()
    const started: PostgresServer[] = []
    try {
      for (let i = 0; i < replicas; i++) started.push(await primary.startReplica())
    } catch (err) {
      for (const server of started) await server.stop()
      await primary.stop()
      throw err
    }
    return new PostgresCluster(primary, started)
  }

  get replica (): PostgresServer {
    return this.replicas[0] as PostgresServer
  }

  async stop (): Promise<void> {
    for (const server of this.replicas) await server.stop()
    await this.primary.stop()
  }
}
