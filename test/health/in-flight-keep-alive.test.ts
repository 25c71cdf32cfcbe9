import t from 'tap'
import type { Test } from 'tap'
import { once } from 'node:events'
import { Agent, request } from 'node:http'
import { connect, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { build } from './fixtures/app.js'

// Node decides keep-alive when a request arrives, so the response to a request still in flight when
// the close began said `Connection: keep-alive`. The client then sent its next request on that
// connection whenever it liked, while the plugin's sweep closed idle connections every 50 ms: a
// request that met the sweep got no answer at all (a reset), not the 503 + Connection: close the
// README promises, and a load balancer does not replay a POST that got nothing back.

/**
 * An app whose /slow handler is in flight until the close begins (and `gate` resolves, when given);
 * `closing` resolves at preClose.
 */
async function slowApp (t: Test, gate?: Promise<void>): Promise<{ app: FastifyInstance, exits: number[], port: number, inHandler: Promise<void>, closing: Promise<void> }> {
  const { app, exits } = await build(t, { drainDelay: 0, drainDeadline: 20_000 })
  let began!: () => void
  const closing = new Promise<void>((resolve) => { began = resolve })
  let entered!: () => void
  const inHandler = new Promise<void>((resolve) => { entered = resolve })
  app.addHook('preClose', async () => { began() })
  app.get('/', async () => ({ ok: true }))
  app.get('/slow', async () => {
    entered()
    await closing
    await gate
    return { slow: true }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  return { app, exits, port, inHandler, closing }
}

/** Every byte a raw connection receives, and a promise of its end. */
function rawClient (t: Test, port: number): { socket: Socket, received: () => string, ended: Promise<unknown> } {
  const socket = connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  let received = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { received += chunk })
  return { socket, received: () => received, ended: once(socket, 'end') }
}

const CLOSING_BODY = '{"error":"Service Unavailable","message":"Service Unavailable","statusCode":503}'

t.test('a response in flight when the close begins says Connection: close, and the server then ends the connection', async (t) => {
  const { app, exits, port, inHandler } = await slowApp(t)
  const { socket, received, ended } = rawClient(t, port)
  // Before the close: the usual keep-alive answer on the same connection.
  socket.write('GET / HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n')
  socket.write('GET /slow HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n')
  await inHandler
  await app.health.drain()
  await ended
  t.same(exits, [0])

  const [first, second, ...rest] = received().split(/(?=HTTP\/1\.1 )/)
  t.same(rest, [], 'two answers, nothing more')
  t.match(first, /^HTTP\/1\.1 200 OK\r\n/)
  t.match(first, /\r\nConnection: keep-alive\r\n/i, 'before the close: keep-alive')
  t.match(second, /^HTTP\/1\.1 200 OK\r\n/)
  t.match(second, /\r\nConnection: close\r\n/i, 'in flight across the close: close')
  t.notMatch(second, /keep-alive/i)
  t.ok(second?.endsWith('\r\n\r\n{"slow":true}'), 'the in-flight request finished normally')
})

t.test('a request pipelined behind it once the close began still gets its 503: the connection ends after the last answer', async (t) => {
  let arrived!: () => void
  const behind = new Promise<void>((resolve) => { arrived = resolve })
  const { app, exits, port, inHandler, closing } = await slowApp(t, behind)
  // Fastify answers it with its 503 before any hook runs; the server's own event says it came.
  app.server.on('request', (request: { url?: string }) => { if (request.url === '/') arrived() })
  const { socket, received, ended } = rawClient(t, port)
  socket.write('GET /slow HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n')
  await inHandler
  const drained = app.health.drain()
  await closing
  socket.write('GET / HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n')
  await ended
  await drained
  t.same(exits, [0])

  const [first, second, ...rest] = received().split(/(?=HTTP\/1\.1 )/)
  t.same(rest, [], 'two answers, nothing more')
  t.match(first, /^HTTP\/1\.1 200 OK\r\n/)
  t.match(first, /\r\nConnection: close\r\n/i)
  t.ok(first?.endsWith('\r\n\r\n{"slow":true}'))
  t.match(second, /^HTTP\/1\.1 503 Service Unavailable\r\n/)
  t.match(second, /\r\nConnection: close\r\n/i)
  t.ok(second?.endsWith(`\r\n\r\n${CLOSING_BODY}`))
})

t.test('Node\'s keep-alive agent reads the in-flight answer as the last one on its connection', async (t) => {
  const { app, exits, port, inHandler } = await slowApp(t)
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const answer = new Promise<{ status: number, connection: string | undefined, body: string }>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/slow', agent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode as number, connection: res.headers.connection, body }))
    }).on('error', reject).end()
  })
  await inHandler
  await app.health.drain()
  t.same(exits, [0])
  t.same(await answer, { status: 200, connection: 'close', body: '{"slow":true}' })
})
