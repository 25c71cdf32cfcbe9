// `npm run start:lb`: 3 separate instances on ports 3001-3003 behind HAProxy on 8080, driven by
// deploy/haproxy.cfg as shipped. Ctrl-C drains the instances, then stops HAProxy and Redis.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { startEmbeddedRedis, type EmbeddedRedis } from './embedded-redis.js'

const root = join(import.meta.dirname, '..')
if (spawnSync('haproxy', ['-v']).status !== 0) {
  console.error('scaleout example: haproxy is not installed (apt-get install haproxy); `npm start` runs without it')
  process.exit(1)
}

let redis: EmbeddedRedis | undefined
if (process.env.REDIS_URL === undefined || process.env.REDIS_URL === '') redis = await startEmbeddedRedis()
const redisUrl = process.env.REDIS_URL ?? redis?.url as string

const children: ChildProcess[] = []
for (const port of [3001, 3002, 3003]) {
  children.push(spawn(process.execPath, [...process.execArgv, join(import.meta.dirname, 'instance.ts')], {
    env: { ...process.env, REDIS_URL: redisUrl, PORT: String(port), HOSTNAME: `instance-${port}`, DRAIN_DELAY_MS: process.env.DRAIN_DELAY_MS ?? '3000' },
    stdio: 'inherit'
  }))
}
const haproxy = spawn('haproxy', ['-db', '-f', join(root, 'deploy', 'haproxy.cfg')], { stdio: 'inherit' })
console.log('scaleout example: HAProxy on http://127.0.0.1:8080/ in front of instances on 3001-3003 (Ctrl-C to stop)')

let stopping = false
async function shutdown (signal: NodeJS.Signals): Promise<void> {
  if (stopping) return
  stopping = true
  for (const child of children) if (child.exitCode === null) child.kill(signal)
  await Promise.all(children.map(async (c) => { if (c.exitCode === null) await once(c, 'exit') }))
  if (haproxy.exitCode === null) {
    haproxy.kill('SIGTERM')
    await once(haproxy, 'exit')
  }
  await redis?.stop()
  process.exit(0)
}
process.on('SIGINT', (s) => { shutdown(s).catch(() => process.exit(1)) })
process.on('SIGTERM', (s) => { shutdown(s).catch(() => process.exit(1)) })
