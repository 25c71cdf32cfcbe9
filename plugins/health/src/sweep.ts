import type { FastifyInstance } from 'fastify'

const SWEEP_MS = 50

/**
 * Node closes keep-alive connections that are idle when server.close() is called, but not the ones
 * that were busy then and go idle afterwards: their client may keep them open until
 * keepAliveTimeout (72s by default in Fastify), holding close() and the drain hostage. So while
 * the server closes, idle connections are closed again every few milliseconds.
 *
 * Such a connection must not be one its client still means to use. Node decides keep-alive when a
 * request arrives, so a response still in flight when the close began would say keep-alive: its
 * client (a load balancer's pool) would send its next request on it, to get Fastify's 503, or no
 * answer at all when the sweep closes the connection just then; nginx and HAProxy replay neither
 * for a POST. Those responses say `Connection: close` instead, so the client takes a new
 * connection, which the closed listener refuses: a failure balancers retry elsewhere, whatever
 * the method. Node's own field for that (what it sets at maxRequestsPerSocket) says close without
 * ending the connection after this response: answers to requests pipelined behind it, Fastify's
 * 503s included, are still sent, and the sweep ends the connection then.
 *
 * The same holds from the start of a drain (`draining()`), not only from the close: a connection
 * still idle when the close begins is closed by Node at once, and a request its client sends at
 * that instant meets a reset. Keep-alive clients that never see readiness (a load balancer's pool,
 * a client behind an L4 Service address) would otherwise keep using, and keep idle, connections
 * to this instance all through drainDelay; told to close, they retire each one they use.
 */
export function sweepIdleConnections (fastify: FastifyInstance, draining: () => boolean): void {
  let timer: NodeJS.Timeout | undefined
  let closing = false
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    // An HTTP/2 response has no connection header: the property means nothing to it.
    if (closing || draining()) (reply.raw as { maxRequestsOnConnectionReached?: boolean }).maxRequestsOnConnectionReached = true
    done(null, payload)
  })
  fastify.addHook('preClose', (done) => {
    closing = true
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
