import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startHaproxy } from '../helpers/haproxy.js'
import { startNginx } from '../helpers/nginx.js'
import { addressIn, ATTEMPTS, CLIENT, HOST_LISTS, largestHead, MODES, reportingApp, send, sendWithoutHost, type Seen } from './injection-drill.js'
import { rawRequest } from './raw-http.js'

// The README's proxy blocks, exactly as printed, in real nginx and HAProxy in front of an app that
// trusts only the proxy. Before, the README's nginx line pasted $host into Forwarded, so
// `Host: a",for="198.51.100.23` made request.ip 198.51.100.23.
function block (plugin: string, heading: string, language: string): string {
  const readme = readFileSync(join(import.meta.dirname, '..', '..', 'plugins', plugin, 'README.md'), 'utf8')
  const match = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(readme.slice(readme.indexOf(heading)))
  if (match === null) throw new Error(`no ${language} block under ${heading} in the ${plugin} README`)
  return match[1] as string
}

function swap (text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`the README block no longer has ${from}`)
  return text.split(from).join(to)
}

const PROXY = '## Proxy settings that pair with it'

type Balancer = 'nginx' | 'haproxy' | 'health-nginx'

/**
 * A README block in real nginx or HAProxy in front of the app on `appPort`: the proxy README's
 * blocks, or the health README's nginx block (the drain section, its two upstream servers both the app).
 */
async function startFront (balancer: Balancer, appPort: number): Promise<{ port: number, stop: () => Promise<void> }> {
  if (balancer === 'nginx') {
    return await startNginx({
      config: ({ ports }) => `http {\n${swap(swap(block('proxy', PROXY, 'nginx'), 'listen 80;', `listen 127.0.0.1:${ports[0] as number};`), 'http://app', `http://127.0.0.1:${appPort}`)}\n}`
    })
  }
  if (balancer === 'health-nginx') {
    return await startNginx({
      config: ({ ports }) => {
        let text = swap(block('health', '### nginx', 'nginx'), 'listen 80;', `listen 127.0.0.1:${ports[0] as number};`)
        text = swap(text, 'server 10.0.0.11:3000', `server 127.0.0.1:${appPort}`)
        return `http {\n${swap(text, 'server 10.0.0.12:3000', `server 127.0.0.1:${appPort}`)}\n}`
      }
    })
  }
  return await startHaproxy((front) => [
    'defaults', '    mode http', '    timeout connect 2s', '    timeout client 10s', '    timeout server 10s',
    swap(block('proxy', PROXY, 'haproxy'), 'bind :80', `bind 127.0.0.1:${front}`),
    'backend app', `    server app1 127.0.0.1:${appPort}`, ''
  ].join('\n'))
}

// The health README's nginx block (the drain section) clears Forwarded: only the default header applies.
for (const balancer of ['nginx', 'haproxy', 'health-nginx'] as const) {
  t.test(`the README's ${balancer} block: no client chooses its address, protocol or host, nor sees health details`, async (t) => {
    const app = await reportingApp()
    t.teardown(async () => await app.close())
    await app.listen({ host: '127.0.0.1', port: 0 })
    const appPort = (app.server.address() as { port: number }).port
    const { port, stop } = await startFront(balancer, appPort)
    t.teardown(stop)
    for (const attempt of [...ATTEMPTS, ...HOST_LISTS]) {
      for (const mode of balancer === 'health-nginx' ? ['x-forwarded-for' as const] : MODES) {
        const answer = await send(port, `/${mode}`, attempt)
        t.equal(answer.status, 200, `${attempt.what} (${mode})`)
        const seen = JSON.parse(answer.body) as Seen
        t.same({ ip: seen.ip, protocol: seen.protocol, host: seen.host }, { ip: addressIn(mode), protocol: 'http', host: attempt.expectedHost }, `${attempt.what} (${mode})`)
        // A header the client could get refused would make it the proxy's own address.
        t.not(seen.stop, 'refused', `${attempt.what} (${mode}): the proxy's header is always well formed`)
      }
      const details = await send(port, '/health', attempt)
      t.same([details.status, JSON.parse(details.body)], [200, { status: 'pass' }], `${attempt.what}: no health details`)
    }
  })
}

// HAProxy writes an IPv6 client into the README's Forwarded line without the brackets RFC 7239
// asks for (`for="::1"`), nginx's block adds them (its map): the plugin must read either as that
// client, not refuse the header.
for (const balancer of ['nginx', 'haproxy'] as const) {
  t.test(`the README's ${balancer} block, a client on IPv6: every header mode gives its address`, async (t) => {
    const app = await reportingApp()
    t.teardown(async () => await app.close())
    await app.listen({ host: '127.0.0.1', port: 0 })
    const appPort = (app.server.address() as { port: number }).port
    const front = balancer === 'nginx'
      ? await startNginx({
        config: ({ ports }) => `http {\n${swap(swap(block('proxy', PROXY, 'nginx'), 'listen 80;', `listen 127.0.0.1:${ports[0] as number};\n    listen [::1]:${ports[0] as number};`), 'http://app', `http://127.0.0.1:${appPort}`)}\n}`
      })
      : await startHaproxy((port) => [
        'defaults', '    mode http', '    timeout connect 2s', '    timeout client 10s', '    timeout server 10s',
        swap(block('proxy', PROXY, 'haproxy'), 'bind :80', `bind 127.0.0.1:${port}\n    bind [::1]:${port}`),
        'backend app', `    server app1 127.0.0.1:${appPort}`, ''
      ].join('\n'))
    t.teardown(front.stop)
    const forged: Array<[string, string]> = [['X-Forwarded-For', '1.2.3.4'], ['Forwarded', 'for=1.2.3.4;proto=https'], ['X-Real-IP', '1.2.3.4'], ['CF-Connecting-IP', '1.2.3.4']]
    for (const mode of MODES) {
      const answer = await rawRequest({ host: '::1', port: front.port, localAddress: '::1', path: `/${mode}`, hostLine: false, headers: [['Host', 'shop.example.com'], ...forged] })
      t.equal(answer.status, 200, mode)
      const seen = JSON.parse(answer.body) as Seen
      // The CDN headers are cleared by the edge: the client there is the proxy itself.
      const expected = mode === 'cf-connecting-ip' || mode === 'true-client-ip' ? { ip: '127.0.0.1', stop: 'end' } : { ip: '::1', stop: 'untrusted' }
      t.same({ ip: seen.ip, protocol: seen.protocol, host: seen.host, stop: seen.stop }, { ...expected, protocol: 'http', host: 'shop.example.com' }, mode)
    }
  })
}

// The README's own promise for the proxy blocks: they leave proxy_http_version at 1.0, so an
// HTTP/1.0 request without Host reaches the app (rule 5: request.host '', probes keep working). The
// health README's block speaks HTTP/1.1 upstream (keep-alive) and sends `Host: -` for such a request,
// as deploy/nginx.conf does. Before, it sent an HTTP/1.1 request without Host, which the app refused
// with 400.
for (const balancer of ['nginx', 'haproxy', 'health-nginx'] as const) {
  t.test(`the README's ${balancer} block: an HTTP/1.0 request without Host reaches the app with request.host ''`, async (t) => {
    const app = await reportingApp()
    t.teardown(async () => await app.close())
    await app.listen({ host: '127.0.0.1', port: 0 })
    const appPort = (app.server.address() as { port: number }).port
    const front = await startFront(balancer, appPort)
    t.teardown(front.stop)
    const answer = await sendWithoutHost(front.port, '/x-forwarded-for')
    t.equal(answer.status, 200)
    t.same(JSON.parse(answer.body), { ip: addressIn('x-forwarded-for'), protocol: 'http', host: '', stop: 'untrusted' })
  })
}

// Before, the block copied Host into X-Forwarded-Host and the app took its last comma piece: nginx
// chose the server by the whole Host (`x,admin.example` is no server_name), the app answered as
// admin.example, which an operator had fenced off in a server block of its own.
t.test('the README\'s nginx block beside a fenced-off server: neither a comma in Host nor a host in the request line gets the app to answer as it', async (t) => {
  const app = await reportingApp({ allowedHosts: ['shop.example', 'admin.example'] })
  t.teardown(async () => await app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const appPort = (app.server.address() as { port: number }).port
  const nginx = await startNginx({
    config: ({ ports }) => {
      const listen = `listen 127.0.0.1:${ports[0] as number}`
      const edge = swap(swap(block('proxy', PROXY, 'nginx'), 'listen 80;', `${listen} default_server;`), 'http://app', `http://127.0.0.1:${appPort}`)
      return `http {\n${edge}\nserver {\n  ${listen};\n  server_name admin.example;\n  return 403;\n}\n}`
    }
  })
  t.teardown(nginx.stop)
  t.equal((await send(nginx.port, '/x-forwarded-for', { what: 'fenced', host: 'admin.example', headers: [], expectedHost: '' })).status, 403, 'admin.example is fenced off')
  const smuggled = await send(nginx.port, '/x-forwarded-for', { what: 'smuggled', host: 'x,admin.example', headers: [], expectedHost: '' })
  t.equal(smuggled.status, 200)
  t.equal((JSON.parse(smuggled.body) as Seen).host, '')
  // Before, the block sent $http_host on: for an absolute-form request (`GET http://x/ HTTP/1.1`)
  // nginx chose the server by the request line's host (RFC 9112 §3.2.2: it wins over Host) and
  // passed the Host line on, so `Host: admin.example` reached the app through the edge. One space
  // or several between method and target: nginx accepts both.
  for (const target of ['http://shop.example/x-forwarded-for', 'HTTP://Shop.Example:8443/x-forwarded-for']) {
    for (const method of ['GET ', 'GET   ']) {
      const absolute = await rawRequest({ host: '127.0.0.1', port: nginx.port, localAddress: CLIENT, method, path: target, hostLine: false, headers: [['Host', 'admin.example']] })
      t.same([absolute.status, (JSON.parse(absolute.body) as Seen).host], [200, target.startsWith('HTTP') ? 'shop.example:8443' : 'shop.example'], `${JSON.stringify(method + target)} with Host: admin.example answers as the request line's host`)
    }
  }
  const fenced = await rawRequest({ host: '127.0.0.1', port: nginx.port, localAddress: CLIENT, path: 'http://admin.example/x-forwarded-for', hostLine: false, headers: [['Host', 'shop.example']] })
  t.equal(fenced.status, 403, 'the request line\'s admin.example is fenced off whatever the Host says')
})

// An absolute-form request names its host twice, in the request line and in Host. The proxy routes
// by the request line's (RFC 9112 §3.2.2); the app must see that one or none. Before, the nginx
// blocks sent $http_host on, so the app saw the Host line's.
for (const balancer of ['nginx', 'haproxy', 'health-nginx'] as const) {
  t.test(`the README's ${balancer} block: an absolute-form request gives the app the request line's host, never the Host line's`, async (t) => {
    const app = await reportingApp()
    t.teardown(async () => await app.close())
    await app.listen({ host: '127.0.0.1', port: 0 })
    const appPort = (app.server.address() as { port: number }).port
    const front = await startFront(balancer, appPort)
    t.teardown(front.stop)
    const absolute = async (target: string, host: string): Promise<{ status: number, host?: string }> => {
      const answer = await rawRequest({ host: '127.0.0.1', port: front.port, localAddress: CLIENT, path: target, hostLine: false, headers: [['Host', host]] })
      return answer.status === 200 ? { status: 200, host: (JSON.parse(answer.body) as Seen).host } : { status: answer.status }
    }
    t.same(await absolute('http://shop.example.com/x-forwarded-for', 'shop.example.com'), { status: 200, host: 'shop.example.com' }, 'the same host twice')
    // nginx sends the request line's host on; HAProxy refuses the request.
    t.same(await absolute('http://shop.example.com:8443/x-forwarded-for', 'evil.example'), balancer === 'haproxy' ? { status: 400 } : { status: 200, host: 'shop.example.com:8443' }, 'another host in Host')
    t.same(await absolute('http://shop.example.com/x-forwarded-for', 'a",for="198.51.100.23'), balancer === 'haproxy' ? { status: 400 } : { status: 200, host: 'shop.example.com' }, 'an injection in Host')
  })
}

// Node takes a request head of up to 16 KiB. Before, the nginx block passed heads of up to 32 KiB
// (nginx's default): Node answered 431 and reset the connection, which nginx counts as the server
// failing. The block refuses a larger head itself; the largest it passes, the app answers. HAProxy's
// default limit (tune.bufsize 16384 less its rewrite reserve) is already under Node's. The health
// README's nginx block had the same default.
for (const [balancer, size, refusal] of [['nginx', 100, /Request Header Or Cookie Too Large/], ['health-nginx', 100, /Request Header Or Cookie Too Large/], ['haproxy', 1000, /Your browser sent an invalid request/]] as const) {
  t.test(`the README's ${balancer} block: every request head it passes on is one Node takes, and it refuses the rest itself`, async (t) => {
    const app = await reportingApp()
    t.teardown(async () => await app.close())
    await app.listen({ host: '127.0.0.1', port: 0 })
    const front = await startFront(balancer, (app.server.address() as { port: number }).port)
    t.teardown(front.stop)
    const { lines, largest, refused } = await largestHead(front.port, '/x-forwarded-for', size)
    t.same([refused.status, refusal.test(refused.body)], [400, true], `${lines + 1} lines of ${size} bytes: refused by ${balancer} itself`)
    t.same(JSON.parse(largest.body), { ip: CLIENT, protocol: 'http', host: 'differential.test', stop: 'untrusted' }, `${lines} lines: the app answered`)
    const cookie = await rawRequest({ host: '127.0.0.1', port: front.port, localAddress: CLIENT, path: '/x-forwarded-for', headers: [['Cookie', `a=${'c'.repeat(7000)}`]] })
    t.equal(cookie.status, 200, 'a Cookie line of 7000 bytes still passes')
  })
}
