// `npm run start:lb`: 3 separate instances on ports 3001-3003 behind HAProxy on 8080, driven by
// deploy/haproxy.cfg as shipped. Ctrl-C drains the instances, then stops HAProxy and Redis.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { startEmbeddedRedis, type EmbeddedRedis } from './embedded-redis.js'
import { exampleDatabase } from './embedded-postgres.js'

const root = join(import.meta.dirname, '..')
if (spawnSync('haproxy', ['-v']).status !== 0) {
  console.error('scaleout example: haproxy is not installed (apt-get install haproxy); `npm start` runs without it')
  process.exit(1)
}

let redis: EmbeddedRedis | undefined
if (process.env.REDIS_URL === undefined || process.env.REDIS_URL === '') redis = await startEmbeddedRedis()
const redisUrl = redis === undefined ? process.env.REDIS_URL as string : redis.url
const database = await exampleDatabase()
console.log(database.note)

const children: ChildProcess[] = []
for (const port of [3001, 3002, 3003]) {
  children.push(spawn(process.execPath, [...process.execArgv, join(import.meta.dirname, 'instance.ts')], {
    // SCALEOUT_LAUNCHER: Ctrl-C reaches the instances from the terminal and from us; both join one drain.
    env: { ...process.env, ...database.env, REDIS_URL: redisUrl, PORT: String(port), HOSTNAME: `instance-${port}`, DRAIN_DELAY_MS: process.env.DRAIN_DELAY_MS ?? '3000', SCALEOUT_LAUNCHER: '1' },
    stdio: 'inherit'
  }))
}
// Its own process group: a Ctrl-C to the terminal's group would stop HAProxy at once, before the
// instances behind it have drained.
const haproxy = spawn('haproxy', ['-db', '-f', join(root, 'deploy', 'haproxy.cfg')], { stdio: 'inherit', detached: true })
process.once('exit', () => { if (haproxy.exitCode === null) haproxy.kill('SIGTERM') })
console.log('scaleout example: HAProxy on http://127.0.0.1:8080/ in front of instances on 3001-3003 (Ctrl-C to stop)')

let stopping = false
async function shutdown (code = 0): Promise<void> {
  if (stopping) return
  stopping = true
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM')
  await Promise.all(children.map(async (c) => { if (c.exitCode === null) await once(c, 'exit') }))
  if (haproxy.exitCode === null) {
    haproxy.kill('SIGTERM')
    await once(haproxy, 'exit')
  }
  await redis?.stop()
  await database.stop()
  process.exit(code)
}
// An instance that exits on its own (its port taken: it says so) stops the whole example, non-zero.
for (const [i, child] of children.entries()) {
  child.once('exit', (code, signal) => {
    if (stopping) return
    console.error(`scaleout example: the instance on port ${3001 + i} exited (${signal ?? code}); stopping`)
    shutdown(1).catch(() => process.exit(1))
  })
}
process.on('SIGINT', () => { shutdown().catch(() => process.exit(1)) })
process.on('SIGTERM', () => { shutdown().catch(() => process.exit(1)) })
