import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer, connect } from 'node:net'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, waitUntil } from '../test/helpers/index.js'

const root = join(import.meta.dirname, '..')

interface Run {
  output: () => string
  exited: Promise<number | null>
  /** Signals the whole process group, as a terminal's Ctrl-C does. */
  signalGroup: (signal: NodeJS.Signals) => void
}

// What `npm start` runs, without npm and sh around it, so that the exit code is the launcher's own
// (npm, and dash in between, die of the SIGINT themselves, whatever the script did).
const [command, ...args] = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start.split(' ')

/**
 * The environment without tap's (its NODE_OPTIONS hooks would turn a clean exit after SIGINT into a
 * death by SIGINT) and without REDIS_URL (the launcher starts its own redis-server).
 */
function untapped (): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_OPTIONS' && name !== 'NODE_V8_COVERAGE' && name !== 'REDIS_URL' && !/^_?TAP/i.test(name)))
}

/** `npm start`'s command in its own process group, with a private redis-server and two instances. */
function npmStart (t: { teardown: (fn: () => void) => void }, port: number): Run {
  if (command !== 'node') throw new Error(`npm start runs ${String(command)}, not node`)
  const child = spawn(process.execPath, args, {
    cwd: root,
    detached: true,
    env: { ...untapped(), PORT: String(port), INSTANCES: '2', DRAIN_DELAY_MS: '100' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let text = ''
  child.stdout.on('data', (chunk: Buffer) => { text += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { text += chunk.toString() })
  // Bounded: a launcher that hangs is killed after a minute and reports exit null.
  const bound = setTimeout(() => { signalGroup('SIGKILL') }, 60_000)
  const exited = once(child, 'exit').then(([code]) => {
    clearTimeout(bound)
    return code as number | null
  })
  const signalGroup = (signal: NodeJS.Signals): void => { process.kill(-(child.pid as number), signal) }
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) {
      try { signalGroup('SIGKILL') } catch { /* already gone */ }
    }
  })
  return { output: () => text, exited, signalGroup }
}

async function refused (url: string): Promise<boolean> {
  const { port } = new URL(url)
  return await new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(false) })
    socket.once('error', () => resolve(true))
  })
}

function redisUrl (output: string): string {
  return /started a private redis-server at (redis:\/\/\S+)/.exec(output)?.[1] as string
}

function lines (output: string, pattern: RegExp): string[] {
  return output.split('\n').filter((line) => pattern.test(line))
}

t.test('Ctrl-C on npm start drains each instance once, then stops Redis', async (t) => {
  const port = await freePort()
  const run = npmStart(t, port)
  await waitUntil('the instances listening', () => run.output().includes(`2 instances on http://127.0.0.1:${port}/`), 90_000, 100)
  run.signalGroup('SIGINT')
  t.equal(await run.exited, 0)
  const output = run.output()
  t.same(lines(output, /^scaleout example: instance \d exited/).sort(), ['scaleout example: instance 1 exited with code 0', 'scaleout example: instance 2 exited with code 0'])
  t.equal(lines(output, /drain: exiting with code 0/).length, 2, 'both drained')
  t.same(lines(output, /during the drain: exiting now/), [], 'no instance was told twice')
  t.match(output, /scaleout example: stopped \(SIGINT\)/)
  t.equal(await refused(redisUrl(output)), true, 'the private redis-server is stopped')
})

t.test('npm start with its port taken says so and exits non-zero', async (t) => {
  const holder = createServer()
  holder.listen(0, '127.0.0.1')
  await once(holder, 'listening')
  t.teardown(() => holder.close())
  const port = (holder.address() as { port: number }).port
  const run = npmStart(t, port)
  t.not(await run.exited, 0)
  const output = run.output()
  t.same(lines(output, /^scaleout example: port/), [`scaleout example: port ${port} on 127.0.0.1 is taken: stop what uses it, or set PORT to a free port`], 'said once')
  t.same(lines(output, /keep serving|^\s+at /), [], 'no stack trace, no claim that others keep serving')
  t.match(output, /scaleout example: stopped \(start-up failed\)/)
  t.equal(await refused(redisUrl(output)), true, 'the private redis-server is stopped')
})
