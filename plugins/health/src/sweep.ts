import type { FastifyInstance } from 'fastify'

const SWEEP_MS = 50

/**
 * Node closes keep-alive connections that are idle when server.close() is called, but not the ones
 * that were busy then and go idle afterwards: their client may keep them open until
 * keepAliveTimeout (72s by default in Fastify), holding close() and the drain hostage. So while
 * the server closes, idle connections are closed again every few milliseconds.
 */
export function sweepIdleConnections (fastify: FastifyInstance): void {
  let timer: NodeJS.Timeout | undefined
  fastify.addHook('preClose', (done) => {
    const server = fastify.server as { closeIdleConnections?: () => void, listening: boolean }
    if (server.listening && typeof server.closeIdleConnections === 'function') {
      const sweep = server.closeIdleConnections.bind(server)
      timer = setInterval(sweep, SWEEP_MS)
      timer.unref()
    }
    done()
  })
  fastify.addHook('onClose', (_instance, done) => {
    clearInterval(timer)
    done()
  })
}
