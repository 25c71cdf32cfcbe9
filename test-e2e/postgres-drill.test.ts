import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, waitUntil } from '../test/helpers/index.js'
import { PostgresCluster } from '../test/helpers/postgres.js'
import { call, stream, type Answer } from './client.js'
import { startStack, type Stack } from './stack.js'

// The notes feature of the example through HAProxy (deploy/haproxy.cfg as shipped, round robin over
// three instances), on a real primary and a streaming replica. Drill 1: the replica 2 s behind,
// write then read at once across instances with the client's token cookie: no stale read. Drill 2:
// the replica killed under a steady stream of reads: no failed request. The instances read both URLs
// from files (DATABASE_URL_FILE, DATABASE_REPLICA_URL_FILE), as the Swarm stack's secrets give them.

let cluster: PostgresCluster
let stack: Stack
const secrets = mkdtempSync(join(tmpdir(), 'scaleout-e2e-secrets-'))
t.before(async () => {
  cluster = await PostgresCluster.start(1)
  writeFileSync(join(secrets, 'database_url'), cluster.primary.url + '\n', { mode: 0o600 })
  writeFileSync(join(secrets, 'database_replica_url'), cluster.replica.url + '\n', { mode: 0o600 })
  stack = await startStack('haproxy', { DATABASE_URL_FILE: join(secrets, 'database_url'), DATABASE_REPLICA_URL_FILE: join(secrets, 'database_replica_url') })
})
t.teardown(async () => {
  await stack?.stop()
  await cluster?.stop()
  rmSync(secrets, { recursive: true, force: true })
})

function route (answer: Answer): string {
  return String(answer.headers['x-scaleout-db-route'])
}

function tokenCookie (answer: Answer): string {
  const header = answer.headers['set-cookie']
  const first = Array.isArray(header) ? header[0] : header
  if (first === undefined) throw new Error(`no token cookie after a write: ${answer.status} ${answer.body}`)
  return first.split(';')[0] as string
}

async function write (text: string): Promise<{ id: string, cookie: string, instance: string | undefined }> {
  const answer = await call(stack.lb.url, '/api/notes', { method: 'POST', body: { text } })
  if (answer.status !== 201) throw new Error(`write failed: ${answer.status} ${answer.body}`)
  return { id: (JSON.parse(answer.body) as { id: string }).id, cookie: tokenCookie(answer), instance: answer.instance }
}

t.test('replica 2 s behind: 50 x (write, then read at once on the next instance with the token cookie): 0 stale reads; a client that never wrote stays on the replica', async (t) => {
  const settled = await write('written before the delay')
  await cluster.replica.waitCaughtUp(cluster.primary)
  await cluster.replica.setApplyDelay(2000)
  t.teardown(async () => {
    await cluster.replica.setApplyDelay(0)
    await cluster.replica.waitCaughtUp(cluster.primary)
  })
  const stale: string[] = []
  let crossed = 0
  const neverWrote: string[] = []
  const withToken: string[] = []
  for (let i = 0; i < 50; i++) {
    const written = await write(`note ${i}`)
    const read = await call(stack.lb.url, `/api/notes/${written.id}`, { cookie: written.cookie })
    if (read.status !== 200 || (JSON.parse(read.body) as { body: string }).body !== `note ${i}`) stale.push(`${read.status} ${read.body}`)
    if (read.instance !== written.instance) crossed++
    withToken.push(route(read))
    const other = await call(stack.lb.url, `/api/notes/${settled.id}`)
    t.equal(other.status, 200)
    neverWrote.push(route(other))
  }
  t.same(stale, [], '0 stale reads')
  // The replica cannot replay a commit before 2 s: each token read waited its 50 ms, then went to the primary.
  t.same([...new Set(withToken)], ['primary;reason=tokenAhead'])
  t.ok(crossed >= 40, `the read landed on another instance than the write: ${crossed} of 50`)
  const onReplica = neverWrote.filter((r) => r.startsWith('replica;')).length
  t.ok(onReplica >= 48, `a client with no token reads on the replica meanwhile: ${onReplica} of 50 (${[...new Set(neverWrote)].join(', ')})`)
})

t.test('the replica killed under a steady stream of reads: 0 failed requests, reads move to the primary', async (t) => {
  const { id } = await write('read under load')
  await cluster.replica.waitCaughtUp(cluster.primary)
  const load = stream(stack.lb.url, `/api/notes/${id}`, { concurrency: 4, maxMs: 30_000 })
  await sleep(1500)
  await cluster.replica.kill()
  // Longer than the sampler's interval (1 s) times quarantineAfter (2): every instance has seen it.
  await sleep(5000)
  const report = await load.stop()
  t.same(report.failures, [], `no failed request (${report.sent} sent)`)
  t.equal(report.statuses['200'], report.sent)
  t.ok(report.bodies.every((b) => (JSON.parse(b) as { body: string }).body === 'read under load'))
  const after = await call(stack.lb.url, `/api/notes/${id}`)
  t.equal(after.status, 200)
  t.equal(route(after), 'primary;reason=quarantined')
  t.comment(`replica kill drill: ${report.sent} GETs, statuses ${JSON.stringify(report.statuses)}, by instance ${JSON.stringify(report.instances)}`)
})

t.test('the notes API refuses bad input: 400 on empty or oversized text, 404 on a bad or unknown id', async (t) => {
  for (const text of ['', ' ', 'x'.repeat(501), 42]) {
    const answer = await call(stack.lb.url, '/api/notes', { method: 'POST', body: { text } })
    t.equal(answer.status, 400)
    t.same(JSON.parse(answer.body), { error: 'text must be 1 to 500 characters' })
  }
  for (const id of ['abc', '1'.repeat(19), '999999999']) {
    const answer = await call(stack.lb.url, `/api/notes/${id}`)
    t.equal(answer.status, 404)
    t.same(JSON.parse(answer.body), { error: 'no such note' })
  }
  const page = await call(stack.lb.url, '/notes')
  t.equal(page.status, 200)
  t.match(page.body, /x-scaleout-db-route/)
})

// `npm start`'s command, as example-start.test.ts runs it, without tap's hooks or any database URL.
const root = join(import.meta.dirname, '..')
const [command, ...args] = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start.split(' ')

function untapped (): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_OPTIONS' && name !== 'NODE_V8_COVERAGE' && !/^_?TAP/i.test(name) && !/^(REDIS|DATABASE)_/.test(name)))
}

async function npmStart (t: { teardown: (fn: () => void) => void }, env: NodeJS.ProcessEnv): Promise<{ port: number, output: () => string, stop: () => Promise<number | null> }> {
  if (command !== 'node') throw new Error(`npm start runs ${String(command)}, not node`)
  const port = await freePort()
  const child = spawn(process.execPath, args, {
    cwd: root,
    detached: true,
    env: { ...untapped(), PORT: String(port), INSTANCES: '1', DRAIN_DELAY_MS: '100', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let text = ''
  child.stdout.on('data', (chunk: Buffer) => { text += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { text += chunk.toString() })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-(child.pid as number), 'SIGKILL')
  })
  await waitUntil('npm start listening', () => {
    if (child.exitCode !== null) throw new Error(`npm start exited: ${text}`)
    return text.includes(`1 instances on http://127.0.0.1:${port}/`)
  }, 120_000, 100)
  return {
    port,
    output: () => text,
    stop: async () => {
      process.kill(-(child.pid as number), 'SIGINT')
      return await exited
    }
  }
}

async function refused (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(false) })
    socket.once('error', () => resolve(true))
  })
}

t.test('npm start with nothing configured starts a private primary and replica for the notes, and stops them on Ctrl-C', async (t) => {
  const run = await npmStart(t, {})
  const [, primary, replica] = /started a private PostgreSQL primary on port (\d+) and a replica on port (\d+) for the notes/.exec(run.output()) ?? []
  t.ok(primary !== undefined && replica !== undefined, 'said which ports')
  const url = `http://127.0.0.1:${run.port}`
  const written = await call(url, '/api/notes', { method: 'POST', body: { text: 'from npm start' } })
  t.equal(written.status, 201)
  const read = await call(url, `/api/notes/${(JSON.parse(written.body) as { id: string }).id}`, { cookie: tokenCookie(written) })
  t.equal((JSON.parse(read.body) as { body: string }).body, 'from npm start')
  t.equal(await run.stop(), 0)
  t.equal(await refused(Number(primary)), true, 'the private primary is stopped')
  t.equal(await refused(Number(replica)), true, 'the private replica is stopped')
})

t.test('npm start with no DATABASE_URL and no PostgreSQL binaries runs without the notes and says so in one line', async (t) => {
  const run = await npmStart(t, { PG_BINDIR: '/nonexistent' })
  const url = `http://127.0.0.1:${run.port}`
  t.same(run.output().split('\n').filter((line) => line.startsWith('scaleout example: notes')), [
    'scaleout example: notes are off: DATABASE_URL is not set and no private PostgreSQL could start (spawnSync /nonexistent/initdb ENOENT); set DATABASE_URL or install PostgreSQL'
  ])
  t.equal((await call(url, '/')).status, 200)
  t.equal((await call(url, '/notes')).status, 404)
  t.equal((await call(url, '/api/notes')).status, 404)
  t.equal(await run.stop(), 0)
})
