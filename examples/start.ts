// `npm start`: the example as N instances (default 3) sharing one port through Node's cluster
// module, one shared Redis (REDIS_URL, or a private redis-server). Ctrl-C drains every instance
// once, then stops Redis.
import cluster, { type Worker } from 'node:cluster'
import { hostname } from 'node:os'
import { once } from 'node:events'
import { startEmbeddedRedis, type EmbeddedRedis } from './embedded-redis.js'
import { exampleDatabase } from './embedded-postgres.js'
import type { ListenFailed } from './listen.js'

if (cluster.isPrimary) {
  const instances = Number(process.env.INSTANCES ?? 3)
  const port = Number(process.env.PORT ?? 3000)
  let redis: EmbeddedRedis | undefined
  if (process.env.REDIS_URL === undefined || process.env.REDIS_URL === '') {
    redis = await startEmbeddedRedis()
    console.log(`scaleout example: started a private redis-server at ${redis.url}`)
  }
  const redisUrl = process.env.REDIS_URL === undefined || process.env.REDIS_URL === '' ? redis?.url as string : process.env.REDIS_URL
  const database = await exampleDatabase()
  console.log(database.note)
  let stopping = false
  let listening = false
  let listenFailure: string | undefined
  const workers: Worker[] = []
  const exitCodes = new Map<number, number | string>()
  for (let i = 1; i <= instances; i++) {
    // Each worker gets its own HOSTNAME so x-served-by tells the instances apart. SCALEOUT_LAUNCHER:
    // Ctrl-C reaches the workers from the terminal too, and each must be signalled once (by us).
    workers.push(cluster.fork({ ...database.env, REDIS_URL: redisUrl, PORT: String(port), HOSTNAME: `${hostname()}-${i}`, DRAIN_DELAY_MS: process.env.DRAIN_DELAY_MS ?? '1000', SCALEOUT_LAUNCHER: '1' }))
  }

  /** Sends each live instance one SIGTERM (it drains), waits for all, stops Redis, exits. */
  const stop = async (why: string, failed: boolean): Promise<never> => {
    stopping = true
    for (const w of workers) if (!w.isDead()) w.process.kill('SIGTERM')
    await Promise.all(workers.map(async (w) => { if (!w.isDead()) await once(w, 'exit') }))
    await redis?.stop()
    await database.stop()
    const clean = [...exitCodes.values()].every((code) => code === 0)
    console.log(`scaleout example: stopped (${why})`)
    process.exit(failed || !clean ? 1 : 0)
  }

  cluster.on('message', (_worker, message: Partial<ListenFailed> | null) => {
    if (message?.scaleout === 'listen-failed') listenFailure ??= message.reason
  })
  cluster.on('exit', (worker, code, signal) => {
    exitCodes.set(worker.id, signal ?? code)
    if (stopping) {
      console.log(`scaleout example: instance ${worker.id} exited with ${signal ?? `code ${code}`}`)
      return
    }
    if (!listening) {
      console.error(`scaleout example: ${listenFailure ?? `instance ${worker.id} exited (${signal ?? code}) before listening`}`)
      stop('start-up failed', true).catch(() => process.exit(1))
    } else if (workers.some((w) => !w.isDead())) {
      console.error(`scaleout example: instance ${worker.id} exited (${signal ?? code}); the others keep serving`)
    } else {
      console.error(`scaleout example: instance ${worker.id} exited (${signal ?? code}), the last one`)
      stop('no instance left', true).catch(() => process.exit(1))
    }
  })

  let signalled = false
  const shutdown = (signal: NodeJS.Signals): void => {
    // Ctrl-C under npm arrives twice (from the terminal and forwarded by npm): one drain.
    if (signalled || stopping) return
    signalled = true
    console.log(`scaleout example: ${signal}: draining ${workers.filter((w) => !w.isDead()).length} instances`)
    stop(signal, false).catch(() => process.exit(1))
  }
  process.on('SIGINT', shutdown)
  process.on('SIGTERM', shutdown)

  await Promise.all(workers.map(async (w) => await once(w, 'listening')))
  listening = true
  if (!stopping) console.log(`scaleout example: ${instances} instances on http://127.0.0.1:${port}/ (Ctrl-C to stop)`)
} else {
  await import('./instance.js')
}
