import t from 'tap'
import fastifyWebsocket from '@fastify/websocket'
import WebSocket from 'ws'
import broadcast from '@scaleout/broadcast'
import { appFor, redisFor, waitUntil } from '../helpers/index.js'
import { startNginx } from '../helpers/nginx.js'

// A proxy's idle timeout, scaled down: deploy/nginx.conf reads from the instances with
// `proxy_read_timeout 60s` (nginx's default too) outside /chat; here nginx waits 1 s. A quiet socket
// without pings is cut by it; one with pings, on the same nginx and the same idle channels, is not.

t.test('the route\'s pings keep a quiet socket open through a proxy\'s idle timeout; without them the proxy cuts it', async (t) => {
  const server = await redisFor(t)
  const app = appFor(t)
  await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
  await app.register(fastifyWebsocket)
  app.after(() => {
    app.broadcast.websocket('/on', { channels: () => ['quiet'], pingInterval: 250 })
    app.broadcast.websocket('/off', { channels: () => ['quiet'], pingInterval: false })
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const appPort = (app.server.address() as { port: number }).port
  const nginx = await startNginx({
    config: ({ ports }) => `http {
      map $http_upgrade $connection_upgrade { default upgrade; '' close; }
      server {
        listen 127.0.0.1:${ports[0] as number};
        location / {
          proxy_pass http://127.0.0.1:${appPort};
          proxy_http_version 1.1;
          proxy_set_header Host $host;
          proxy_set_header Upgrade $http_upgrade;
          proxy_set_header Connection $connection_upgrade;
          proxy_read_timeout 1s;
        }
      }
    }`
  })
  t.teardown(nginx.stop)

  const open = async (path: string): Promise<{ ws: WebSocket, pings: () => number, closed: Promise<number> }> => {
    const ws = new WebSocket(`ws://127.0.0.1:${nginx.port}${path}`)
    let pings = 0
    ws.on('ping', () => { pings++ })
    const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)))
    t.teardown(() => ws.terminate())
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    return { ws, pings: () => pings, closed }
  }
  const on = await open('/on')
  const off = await open('/off')
  await waitUntil('both attached', () => app.broadcast.stats().sockets === 2)

  t.equal(await off.closed, 1006, 'without pings nginx cut the quiet socket')
  t.equal(off.pings(), 0)
  await waitUntil('server side gone', () => app.broadcast.stats().sockets === 1)
  // Eight more pings, 250 ms apart: twice nginx's timeout with nothing but pings on the socket.
  const seen = on.pings()
  await waitUntil('8 more pings', () => on.pings() >= seen + 8, 10_000, 10)
  t.equal(on.ws.readyState, WebSocket.OPEN, 'with pings it is still open')
  t.equal(app.broadcast.stats().unresponsiveDropped, 0, 'its pongs got back through nginx')
  t.match(await app.broadcast.publish('quiet', 'hello'), { delivered: 1 })
})
