import cluster from 'node:cluster'
import type { FastifyInstance } from 'fastify'
import type { ExampleConfig } from './config.js'

/** What a cluster worker tells the primary when it cannot listen. */
export interface ListenFailed {
  scaleout: 'listen-failed'
  reason: string
}

/**
 * Listens, or says in one line why not (a port already taken is the usual case) and exits with 1:
 * a cluster worker tells the primary, which says it once for all of them.
 */
export async function listenOrExit (app: FastifyInstance, config: ExampleConfig): Promise<void> {
  try {
    await app.listen({ host: config.host, port: config.port })
    return
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const reason = code === 'EADDRINUSE'
      ? `port ${config.port} on ${config.host} is taken: stop what uses it, or set PORT to a free port`
      : `cannot listen on ${config.host}:${config.port} (${code ?? (err as Error).message})`
    if (cluster.isWorker && process.send !== undefined) {
      const message: ListenFailed = { scaleout: 'listen-failed', reason }
      await new Promise((resolve) => process.send?.(message, undefined, {}, resolve))
    } else {
      console.error(`scaleout example: ${reason}`)
    }
  }
  await app.close().catch(() => undefined)
  process.exit(1)
}
