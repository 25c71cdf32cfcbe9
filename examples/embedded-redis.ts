// `npm start` works on a machine with nothing but redis-server on PATH: when REDIS_URL is not set,
// a private, non-persistent redis-server is started on a free loopback port and stopped with us.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

export interface EmbeddedRedis {
  url: string
  stop: () => Promise<void>
}

async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  return typeof address === 'object' && address !== null ? address.port : 0
}

export async function startEmbeddedRedis (): Promise<EmbeddedRedis> {
  const binary = process.env.REDIS_SERVER ?? 'redis-server'
  if (spawnSync(binary, ['--version']).status !== 0) {
    throw new Error('REDIS_URL is not set and redis-server is not on PATH: set REDIS_URL, or install it (apt-get install redis-server)')
  }
  const port = await freePort()
  // Its own process group: Ctrl-C goes to the terminal's group, and Redis must outlive the drain
  // of the instances that use it. Stopped by stop(), or when this process exits any other way.
  const child: ChildProcess = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: ['ignore', 'ignore', 'inherit'], detached: true })
  process.once('exit', () => { if (child.exitCode === null) child.kill('SIGTERM') })
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`)
    const ping = spawnSync('redis-cli', ['-p', String(port), 'PING'], { encoding: 'utf8' })
    if (ping.stdout?.startsWith('PONG') === true) break
    await sleep(50)
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      await exited
    }
  }
}
