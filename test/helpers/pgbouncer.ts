import { spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, waitUntil } from './ports.js'
import { answers, ownedTempDir, PASSWORD, spawnServer, USER, writeOwned, type PostgresServer } from './postgres.js'

export const SHIPPED = fileURLToPath(new URL('../../deploy/pgbouncer.ini', import.meta.url))
/** The database names deploy/pgbouncer.ini gives the primary and the replica. */
export const DATABASE = 'app'
export const REPLICA_DATABASE = 'app_replica'

function pgbouncerBinary (): string {
  const candidate = process.env.PGBOUNCER !== undefined && process.env.PGBOUNCER !== '' ? process.env.PGBOUNCER : 'pgbouncer'
  const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(`pgbouncer not found (looked for ${JSON.stringify(candidate)}): install it with "apt-get install pgbouncer" or set PGBOUNCER`)
  }
  return candidate
}

/** The version of the pgbouncer binary, such as "1.18.0". */
export function pgbouncerVersion (): string {
  const out = spawnSync(pgbouncerBinary(), ['--version'], { encoding: 'utf8' }).stdout
  return /PgBouncer (\d+\.\d+(?:\.\d+)?)/.exec(out)?.[1] as string
}

function setting (text: string, key: string, value: string): string {
  const line = new RegExp(`^${key} = .*$`, 'm')
  if (!line.test(text)) throw new Error(`deploy/pgbouncer.ini has no "${key} = " line`)
  return text.replace(line, `${key} = ${value}`)
}

/**
 * deploy/pgbouncer.ini as shipped, with only hosts, ports and paths replaced: the databases point at
 * the test's servers, the listener at a free loopback port, files into `dir`.
 */
export function substitute (shipped: string, dir: string, port: number, primary: PostgresServer, replica: PostgresServer | undefined): string {
  let text = shipped
  text = text.replace(/^app = host=\S+ port=\d+/m, `app = host=${primary.host} port=${primary.port}`)
  const target = replica ?? primary
  text = text.replace(/^app_replica = host=\S+ port=\d+/m, `app_replica = host=${target.host} port=${target.port}`)
  text = setting(text, 'listen_addr', '127.0.0.1')
  text = setting(text, 'listen_port', String(port))
  text = setting(text, 'unix_socket_dir', dir)
  text = setting(text, 'pidfile', join(dir, 'pgbouncer.pid'))
  text = setting(text, 'logfile', join(dir, 'pgbouncer.log'))
  text = setting(text, 'auth_file', join(dir, 'userlist.txt'))
  return text
}

/** A private PgBouncer running deploy/pgbouncer.ini in front of a primary (and replica). */
export class PgBouncer {
  readonly host = '127.0.0.1'
  readonly port: number
  readonly dir: string
  readonly config: string
  private readonly child: ChildProcess

  private constructor (port: number, dir: string, config: string, child: ChildProcess) {
    this.port = port
    this.dir = dir
    this.config = config
    this.child = child
  }

  static async start (primary: PostgresServer, replica?: PostgresServer): Promise<PgBouncer> {
    // The shipped file names a database `app`: make it, and wait until the replica has it too.
    const exists = await primary.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE])
    if (exists.rowCount === 0) await primary.query(`CREATE DATABASE ${DATABASE}`)
    if (replica !== undefined) await replica.waitCaughtUp(primary)
    const { rows } = await primary.query<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [USER])
    const dir = ownedTempDir('scaleout-pgbouncer-')
    const port = await freePort()
    const config = substitute(readFileSync(SHIPPED, 'utf8'), dir, port, primary, replica)
    writeOwned(join(dir, 'userlist.txt'), `"${USER}" "${rows[0]?.rolpassword as string}"\n`)
    writeOwned(join(dir, 'pgbouncer.ini'), config)
    const { child, output } = spawnServer(pgbouncerBinary(), [join(dir, 'pgbouncer.ini')])
    const bouncer = new PgBouncer(port, dir, config, child)
    try {
      await waitUntil(`pgbouncer on port ${port}`, async () => {
        if (child.exitCode !== null) throw new Error('exited')
        return await answers(bouncer.url(DATABASE))
      }, 15_000, 50)
    } catch (err) {
      await bouncer.stop()
      throw new Error(`pgbouncer did not start: ${(err as Error).message} ${output()}`)
    }
    return bouncer
  }

  url (database: string): string {
    return `postgres://${USER}:${PASSWORD}@${this.host}:${this.port}/${database}`
  }

  get primaryUrl (): string {
    return this.url(DATABASE)
  }

  get replicaUrl (): string {
    return this.url(REPLICA_DATABASE)
  }

  async stop (): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = once(this.child, 'exit')
      try {
        process.kill(-(this.child.pid as number), 'SIGKILL')
      } catch {
        // gone
      }
      await exited
    }
    rmSync(this.dir, { recursive: true, force: true })
  }
}
