import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startHaproxy } from '../helpers/haproxy.js'
import { startNginx } from '../helpers/nginx.js'
import { addressIn, ATTEMPTS, MODES, reportingApp, send, type Seen } from './injection-drill.js'
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
// The health README's nginx block (the drain section) clears Forwarded: only the default header applies.
for (const balancer of ['nginx', 'haproxy', 'health-nginx'] as const) {
  t.test(`the README's ${balancer} block: no client chooses its address, protocol or host, nor sees health details`, async (t) => {
    const app = await reportingApp()
    t.teardown(async () => await app.close())
    await app.listen({ host: '127.0.0.1', port: 0 })
    const appPort = (app.server.address() as { port: number }).port
    let port: number
    if (balancer === 'nginx') {
      const nginx = await startNginx({
        config: ({ ports }) => `http {\n${swap(swap(block('proxy', PROXY, 'nginx'), 'listen 80;', `listen 127.0.0.1:${ports[0] as number};`), 'http://app', `http://127.0.0.1:${appPort}`)}\n}`
      })
      t.teardown(nginx.stop)
      port = nginx.port
    } else if (balancer === 'health-nginx') {
      const nginx = await startNginx({
        config: ({ ports }) => {
          let text = swap(block('health', '### nginx', 'nginx'), 'listen 80;', `listen 127.0.0.1:${ports[0] as number};`)
          text = swap(text, 'server 10.0.0.11:3000', `server 127.0.0.1:${appPort}`)
          return `http {\n${swap(text, 'server 10.0.0.12:3000', `server 127.0.0.1:${appPort}`)}\n}`
        }
      })
      t.teardown(nginx.stop)
      port = nginx.port
    } else {
      const haproxy = await startHaproxy((front) => [
        'defaults', '    mode http', '    timeout connect 2s', '    timeout client 10s', '    timeout server 10s',
        swap(block('proxy', PROXY, 'haproxy'), 'bind :80', `bind 127.0.0.1:${front}`),
        'backend app', `    server app1 127.0.0.1:${appPort}`, ''
      ].join('\n'))
      t.teardown(haproxy.stop)
      port = haproxy.port
    }
    for (const attempt of ATTEMPTS) {
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
// asks for (`for="::1"`): the plugin must read it as that client, not refuse the header.
t.test('the README\'s HAProxy block, a client on IPv6: every header mode gives its address', async (t) => {
  const app = await reportingApp()
  t.teardown(async () => await app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const appPort = (app.server.address() as { port: number }).port
  const haproxy = await startHaproxy((front) => [
    'defaults', '    mode http', '    timeout connect 2s', '    timeout client 10s', '    timeout server 10s',
    swap(block('proxy', PROXY, 'haproxy'), 'bind :80', `bind 127.0.0.1:${front}\n    bind [::1]:${front}`),
    'backend app', `    server app1 127.0.0.1:${appPort}`, ''
  ].join('\n'))
  t.teardown(haproxy.stop)
  for (const mode of ['x-forwarded-for', 'forwarded', 'x-real-ip'] as const) {
    const answer = await rawRequest({ host: '::1', port: haproxy.port, localAddress: '::1', path: `/${mode}`, hostLine: false, headers: [['Host', 'shop.example.com']] })
    t.equal(answer.status, 200, mode)
    const seen = JSON.parse(answer.body) as Seen
    t.same({ ip: seen.ip, host: seen.host, stop: seen.stop }, { ip: '::1', host: 'shop.example.com', stop: 'untrusted' }, mode)
  }
})
