import t from 'tap'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import Fastify from 'fastify'
import proxy from '@scaleout/proxy'
import { readConfig } from '../examples/config.js'
import { startHaproxy, startNginx } from './balancers.js'
import { addressIn, CLIENT, HOST_LISTS, largestHead, MODES, reportingApp, send, sendWithoutHost, type Seen } from '../test/proxy/injection-drill.js'
import { rawRequest } from '../test/proxy/raw-http.js'

// The shipped edge (deploy/nginx.conf, deploy/haproxy.cfg, the Swarm stack) in front of an app
// with @scaleout/proxy: what a client can and cannot choose through it.
const deploy = join(import.meta.dirname, '..', 'deploy')
const read = (file: string): string => readFileSync(join(deploy, file), 'utf8')

// Before, both configs copied the client's Host into X-Forwarded-Host, which the instances read
// as a list: `Host: good.example,evil.example` gave request.host 'evil.example'. And nginx.conf's
// proxy_http_version 1.1 turned an HTTP/1.0 request without Host into an HTTP/1.1 one without
// Host, which Node answered 400 before the app ran.
for (const balancer of ['nginx', 'haproxy'] as const) {
  t.test(`the shipped ${balancer} config: a Host holding a comma gives request.host '' in every mode, and no Host reaches the app`, async (t) => {
    const app = await reportingApp({ allowedHosts: ['good.example', 'evil.example', 'admin.example'] })
    t.teardown(async () => await app.close())
    await app.listen({ host: '127.0.0.1', port: 0 })
    const port = (app.server.address() as { port: number }).port
    const lb = balancer === 'nginx' ? await startNginx([port, port, port]) : await startHaproxy([port, port, port])
    t.teardown(lb.stop)
    for (const attempt of HOST_LISTS) {
      for (const mode of MODES) {
        const answer = await send(lb.port, `/${mode}`, attempt)
        const seen = JSON.parse(answer.body) as Seen
        t.same([answer.status, seen.ip, seen.protocol, seen.host], [200, addressIn(mode), 'http', ''], `${attempt.what} (${mode})`)
      }
    }
    const bare = await sendWithoutHost(lb.port, '/x-forwarded-for')
    t.equal(bare.status, 200, 'HTTP/1.0 without Host: answered by the app')
    t.same(JSON.parse(bare.body), { ip: addressIn('x-forwarded-for'), protocol: 'http', host: '', stop: 'untrusted' })
  })
}

// An absolute-form request names its host twice: in the request line, which the balancer routes by
// (RFC 9112 §3.2.2), and in Host. Before, deploy/nginx.conf sent the Host line on, so the app
// answered for `Host: evil.example` while nginx had chosen its server by shop.example.com (a server
// block added to fence a name off was passed by). HAProxy sends the request line's host itself, and
// refuses a Host that names another.
for (const balancer of ['nginx', 'haproxy'] as const) {
  t.test(`the shipped ${balancer} config: an absolute-form request gives the app the request line's host, never the Host line's`, async (t) => {
    const app = await reportingApp({ allowedHosts: ['shop.example.com', 'evil.example'] })
    t.teardown(async () => await app.close())
    await app.listen({ host: '127.0.0.1', port: 0 })
    const port = (app.server.address() as { port: number }).port
    const lb = balancer === 'nginx' ? await startNginx([port, port, port]) : await startHaproxy([port, port, port])
    t.teardown(lb.stop)
    const refused = { status: 400 }
    const cases: Array<{ method?: string, target: string, host: string, nginx: object, haproxy: object }> = [
      { target: 'http://shop.example.com/MODE', host: 'shop.example.com', nginx: { status: 200, host: 'shop.example.com' }, haproxy: { status: 200, host: 'shop.example.com' } },
      { target: 'http://shop.example.com/MODE', host: 'evil.example', nginx: { status: 200, host: 'shop.example.com' }, haproxy: refused },
      { method: 'GET   ', target: 'HTTP://Shop.Example.com:8443/MODE', host: 'evil.example', nginx: { status: 200, host: 'shop.example.com:8443' }, haproxy: refused },
      { target: 'http://shop.example.com/MODE', host: 'a",for="198.51.100.23', nginx: { status: 200, host: 'shop.example.com' }, haproxy: refused }
    ]
    for (const c of cases) {
      for (const mode of MODES) {
        const answer = await rawRequest({ host: '127.0.0.1', port: lb.port, localAddress: CLIENT, method: c.method, path: c.target.replace('MODE', mode), hostLine: false, headers: [['Host', c.host]] })
        const seen = answer.status === 200 ? JSON.parse(answer.body) as Seen : undefined
        t.same(seen === undefined ? { status: answer.status } : { status: answer.status, host: seen.host }, c[balancer], `${JSON.stringify((c.method ?? 'GET ') + c.target)}, Host: ${c.host} (${mode})`)
        if (seen !== undefined) t.same([seen.ip, seen.protocol], [addressIn(mode), 'http'])
      }
    }
  })
}

// Node refuses a request whose head is over 16 KiB (431) and closes the connection with the body
// unread, which resets it. nginx accepted heads up to 32 KiB: such a request reached an instance,
// and the reset (while nginx still sent the body, or before it read the 431) counted as that
// instance failing (max_fails=1): nginx took it out for fail_timeout, so a client sending one such
// POST per instance every 2 s had every other client answered 502. nginx now refuses such a head
// itself (400), before any instance sees it.
t.test('the shipped nginx config refuses a head too large for Node itself, so no instance is taken out by one', async (t) => {
  const apps = await Promise.all([0, 1, 2].map(async () => await reportingApp()))
  const ports: number[] = []
  for (const app of apps) {
    t.teardown(async () => await app.close())
    await app.listen({ host: '127.0.0.1', port: 0 })
    ports.push((app.server.address() as { port: number }).port)
  }
  const lb = await startNginx(ports)
  t.teardown(lb.stop)
  // 17 lines of 1000 bytes: within nginx's old limit, over Node's.
  const padding = Array.from({ length: 17 }, (_, i) => `X-Pad-${i}: ${'a'.repeat(1000)}`)
  const body = 'b'.repeat(1_000_000)
  // The answer as far as it came (a refusing server may reset the connection while the body goes).
  const oversized = async (method: string, withBody: boolean): Promise<{ status: number, body: string }> => await new Promise((resolve) => {
    const head = [`${method} /x-forwarded-for HTTP/1.1`, 'Host: shop.example.com', `Content-Length: ${withBody ? body.length : 0}`, 'Connection: close', ...padding, '', ''].join('\r\n')
    const socket = connect({ host: '127.0.0.1', port: lb.port, localAddress: CLIENT })
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', () => {})
    socket.once('close', () => {
      const text = Buffer.concat(chunks).toString('latin1')
      resolve({ status: Number(text.slice(9, 12)), body: text.slice(text.indexOf('\r\n\r\n') + 4) })
    })
    socket.write(withBody ? head + body : head)
  })
  for (const method of ['GET', 'POST']) {
    const answer = await oversized(method, false)
    t.same([answer.status, /Request Header Or Cookie Too Large/.test(answer.body)], [400, true], `${method}: refused by nginx itself`)
  }
  // Every head nginx passes on is one Node takes.
  const { lines, largest, refused } = await largestHead(lb.port, '/x-forwarded-for')
  t.same([refused.status, /Request Header Or Cookie Too Large/.test(refused.body)], [400, true], `${lines + 1} lines of 100 bytes: refused by nginx itself`)
  t.same(JSON.parse(largest.body), { ip: CLIENT, protocol: 'http', host: 'differential.test', stop: 'untrusted' }, `${lines} lines: the app answered`)
  // What took instances out: the same heads with a body Node leaves unread.
  for (let i = 0; i < 6; i++) await oversized(i % 2 === 0 ? 'POST' : 'GET', true)
  for (let i = 0; i < 3; i++) {
    t.equal((await send(lb.port, '/x-forwarded-for', { what: 'plain', host: 'shop.example.com', headers: [], expectedHost: 'shop.example.com' })).status, 200, `an ordinary request ${i + 1} is served`)
  }
  t.notMatch(lb.output(), /upstream server temporarily disabled|no live upstreams/, 'no instance was taken out')
})

// HAProxy's own limit (tune.bufsize 16384 less its rewrite reserve) is already under Node's.
t.test('the shipped haproxy config passes on no request head too large for Node, and refuses the rest itself', async (t) => {
  const app = await reportingApp()
  t.teardown(async () => await app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  const lb = await startHaproxy([port, port, port])
  t.teardown(lb.stop)
  const { lines, largest, refused } = await largestHead(lb.port, '/x-forwarded-for', 1000)
  t.same([refused.status, /Your browser sent an invalid request/.test(refused.body)], [400, true], `${lines + 1} lines of 1000 bytes: refused by HAProxy itself`)
  t.same(JSON.parse(largest.body), { ip: CLIENT, protocol: 'http', host: 'differential.test', stop: 'untrusted' }, `${lines} lines: the app answered`)
})

// Before, the stack trusted 10.0.0.0/8. Swarm's routing mesh rewrites every outside client's
// source to an address of the ingress network (10.0.0.0/24 by default) and sets no forwarding
// header, so every client was a trusted peer and chose its own IP, protocol and host. Swarm cannot
// run here: the app is the example's config read from the shipped environment, and the request
// comes from a mesh address through inject.
t.test('the Swarm stack does not trust the routing mesh: a client behind it chooses nothing', async (t) => {
  const env = (parseAllDocuments(read('docker-compose.swarm.yml'))[0]!.toJS() as { services: { app: { environment: Record<string, string> } } }).services.app.environment
  t.equal(env.TRUST_PROXY, undefined, 'no TRUST_PROXY: the example trusts loopback only')
  const config = readConfig({ ...env, REDIS_URL: 'redis://127.0.0.1:1', SESSION_SECRETS: 'x'.repeat(32) })
  t.same(config.trust, ['127.0.0.1', '::1'])
  const app = Fastify()
  await app.register(proxy, { trust: config.trust })
  app.get('/', async (request) => ({ ip: request.ip, protocol: request.protocol, host: request.host }))
  t.teardown(async () => await app.close())
  for (const mesh of ['10.0.0.2', '10.0.0.254', '10.255.0.3']) {
    const answer = await app.inject({
      url: '/',
      remoteAddress: mesh,
      headers: { host: 'shop.example.com', 'x-forwarded-for': '203.0.113.66', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', forwarded: 'for=203.0.113.66;proto=https' }
    })
    t.same(answer.json(), { ip: mesh, protocol: 'http', host: 'shop.example.com' }, mesh)
  }
})
