import t from 'tap'
import type { Test } from 'tap'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { build } from './fixtures/app.js'

// During drainDelay the answers said `Connection: keep-alive`, so a keep-alive client (a load
// balancer's pool, a client reaching the pod through a Service's L4 address, which never sees
// readiness) kept its connections to the draining instance open and idle. When close() began,
// Node closed them at once, and a request the client sent on one at that instant met a reset
// (ECONNRESET) instead of an answer. Responses sent from the start of the drain now say
// `Connection: close`: every connection a request uses during drainDelay is retired by its client.

/** Sends one request on a raw connection and resolves with everything received up to the body. */
async function ask (socket: Socket, path: string, body: string): Promise<string> {
  let received = ''
  const onData = (chunk: string): void => { received += chunk }
  socket.on('data', onData)
  socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`)
  while (!received.endsWith(body)) await once(socket, 'data')
  socket.off('data', onData)
  return received
}

function client (t: Test, port: number): Socket {
  const socket = connect(port, '127.0.0.1')
  socket.setEncoding('utf8')
  t.teardown(() => socket.destroy())
  return socket
}

t.test('from the start of a drain, responses say Connection: close, so keep-alive clients retire their connections before the close', async (t) => {
  // Long enough for the requests below to be answered before the close, whatever the machine's load.
  const { app, exits } = await build(t, { drainDelay: 3000, drainDeadline: 20_000 })
  app.get('/', async () => ({ ok: true }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }

  const pooled = client(t, port)
  const before = await ask(pooled, '/', '{"ok":true}')
  t.match(before, /^HTTP\/1\.1 200 OK\r\n/)
  t.match(before, /\r\nConnection: keep-alive\r\n/i, 'before the drain: keep-alive')

  const drained = app.health.drain()
  t.equal(app.health.draining, true)
  const during = await ask(pooled, '/', '{"ok":true}')
  t.match(during, /^HTTP\/1\.1 200 OK\r\n/, 'traffic is still served during drainDelay')
  t.match(during, /\r\nConnection: close\r\n/i, 'but the connection is not to be reused')
  t.notMatch(during, /keep-alive/i)

  const fresh = client(t, port)
  const ready = await ask(fresh, '/health/ready', '"output":"draining"}')
  t.match(ready, /^HTTP\/1\.1 503 Service Unavailable\r\n/)
  t.match(ready, /\r\nConnection: close\r\n/i, 'a new connection too, the probes included')

  // The client does what Connection: close asks: it ends the connection; the server ends its side.
  const ended = once(pooled, 'end')
  pooled.end()
  await ended
  await drained
  t.same(exits, [0])
})

t.test('what is left: a connection idle since before the drain, whose request is sent as the close begins, is reset (the keep-alive race of RFC 9112 §9.6)', async (t) => {
  const { app } = await build(t, { drainDelay: 0 })
  app.get('/', async () => ({ ok: true }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const idle = client(t, port)
  t.match(await ask(idle, '/', '{"ok":true}'), /\r\nConnection: keep-alive\r\n/i)
  const failed = once(idle, 'error').then(([err]) => (err as NodeJS.ErrnoException).code, () => 'no error')
  let received = ''
  idle.on('data', (chunk: string) => { received += chunk })
  // Written before the server's next read: to Node the connection is still idle when close() ends it.
  idle.write('GET / HTTP/1.1\r\nHost: test\r\n\r\n')
  await app.close()
  t.equal(await failed, 'ECONNRESET')
  t.equal(received, '', 'no answer')
})
