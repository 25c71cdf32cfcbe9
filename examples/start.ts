// `npm start`: the example as N instances (default 3) sharing one port through Node's cluster
// module, one shared Redis (REDIS_URL, or a private redis-server). Ctrl-C drains every instance,
// then stops Redis.
import cluster, { type Worker } from 'node:cluster'
import { hostname } from 'node:os'
import { once } from 'node:events'
import { startEmbeddedRedis, type EmbeddedRedis } from './embedded-redis.js'

if (cluster.isPrimary) {
  const instances = Number(process.env.INSTANCES ?? 3)
  const port = Number(process.env.PORT ?? 3000)
  let redis: EmbeddedRedis | undefined
  if (process.env.REDIS_URL === undefined || process.env.REDIS_URL === '') {
    redis = await startEmbeddedRedis()
    console.log(`scaleout example: started a private redis-server at ${redis.url}`)
  }
  const redisUrl = process.env.REDIS_URL ?? redis?.url as string
  let stopping = false
  const workers: Worker[] = []
  for (let i = 1; i <= instances; i++) {
    // Each worker gets its own HOSTNAME so x-served-by tells the instances apart.
    workers.push(cluster.fork({ REDIS_URL: redisUrl, PORT: String(port), HOSTNAME: `${hostname()}-${i}`, DRAIN_DELAY_MS: process.env.DRAIN_DELAY_MS ?? '1000' }))
  }
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) console.error(`scaleout example: instance ${worker.id} exited (${signal ?? code}); the others keep serving`)
  })
  await Promise.all(workers.map(async (w) => await once(w, 'listening')))
  console.log(`scaleout example: ${instances} instances on http://127.0.0.1:${port}/ (Ctrl-C to stop)`)

  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopping) return
    stopping = true
    console.log(`scaleout example: ${signal}: draining ${instances} instances`)
    // Ctrl-C reaches the workers from the terminal already; a SIGTERM to the primary alone must be passed on.
    for (const w of workers) if (!w.isDead()) w.process.kill(signal)
    await Promise.all(workers.map(async (w) => { if (!w.isDead()) await once(w, 'exit') }))
    await redis?.stop()
    console.log('scaleout example: stopped')
    process.exit(0)
  }
  process.on('SIGINT', (s) => { shutdown(s).catch(() => process.exit(1)) })
  process.on('SIGTERM', (s) => { shutdown(s).catch(() => process.exit(1)) })
} else {
  await import('./instance.js')
}
