import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import proxy, { DecoratorConflictError, trustProxy, type ForwardedInfo } from '@scaleout/proxy'
import { encryptedOf, remoteOf, walk } from '../../plugins/proxy/src/resolve.js'
import { normalizeOptions } from '../../plugins/proxy/src/options.js'
import { proxyPlugin } from '../../plugins/proxy/src/plugin.js'
import { appFor, logSink } from '../helpers/index.js'

t.test('Fastify\'s trustProxy and the plugin together: a coded error, not two answers', async (t) => {
  const app = appFor(t, { trustProxy: trustProxy({ trust: 'loopback' }) })
  await t.rejects(async () => { await app.register(proxy, { trust: 'loopback' }) }, {
    code: 'SCALEOUT_ERR_PROXY_CONFLICT',
    message: /cannot define request.ip: it is already defined, by Fastify's `trustProxy` option or another plugin/
  })
  t.equal(new DecoratorConflictError('ips').statusCode, 500)
})

// Fastify lets a child scope shadow a decorator: a plugin registered in a child of a trustProxy app
// used to answer request.ip there while Fastify answered it (spoofably) on every other route.
t.test('a child scope of a trustProxy app, or of a scope with the plugin, fails with the same coded error', async (t) => {
  const conflict = { code: 'SCALEOUT_ERR_PROXY_CONFLICT', message: /cannot define request.ip: it is already defined, by Fastify's `trustProxy` option or another plugin/ }
  const underTrustProxy = appFor(t, { trustProxy: true })
  underTrustProxy.register(async (child) => { await child.register(proxy, { trust: 'loopback' }) })
  await t.rejects(async () => { await underTrustProxy.ready() }, conflict)
  const nested = appFor(t)
  await nested.register(proxy, { trust: 'loopback' })
  nested.register(async (child) => { await child.register(proxy, { trust: 'all' }) })
  await t.rejects(async () => { await nested.ready() }, conflict, 'a second registration below the first, which would trust more for some routes')
  // Sibling scopes each have their own request.ip: no conflict.
  const siblings = appFor(t)
  for (const trust of [['127.0.0.1'], ['10.0.0.0/8']]) {
    siblings.register(async (child) => {
      await child.register(proxy, { trust })
      child.get(`/${trust[0] as string}`, async (request) => request.ip)
    })
  }
  siblings.get('/outside', async (request) => request.ip)
  const ip = async (url: string, remoteAddress: string): Promise<string> => (await siblings.inject({ url, remoteAddress, headers: { 'x-forwarded-for': '203.0.113.7' } })).body
  t.same([await ip('/127.0.0.1', '127.0.0.1'), await ip('/127.0.0.1', '10.0.0.1'), await ip('/10.0.0.0/8', '10.0.0.1'), await ip('/outside', '10.0.0.1')], ['203.0.113.7', '10.0.0.1', '203.0.113.7', '10.0.0.1'])
})

t.test('another plugin\'s decoration failure is not mistaken for a conflict', async (t) => {
  const app = appFor(t)
  app.decorateRequest('forwarded', null as unknown as ForwardedInfo)
  await t.rejects(async () => { await app.register(proxy, { trust: 'loopback' }) }, { code: 'SCALEOUT_ERR_PROXY_CONFLICT', message: /request.forwarded/ })
  const failing = { decorateRequest () { throw new Error('decorations are closed') } } as unknown as FastifyInstance
  await t.rejects(proxyPlugin(failing, { trust: 'loopback' }), { message: 'decorations are closed' }, 'other decoration errors pass through unchanged')
})

t.test('Fastify\'s own request log line carries the client address and host', async (t) => {
  const logs = logSink('info')
  const app = appFor(t, { logger: logs.logger })
  await app.register(proxy, { trust: ['10.0.0.0/8'] })
  app.get('/', async () => 'ok')
  await app.inject({ url: '/', remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'shop.example.com' } })
  const incoming = logs.lines.find((line) => line.msg === 'incoming request')
  t.match(incoming?.req, { remoteAddress: '203.0.113.7', host: 'shop.example.com' })
})

t.test('lazy: a request that reads nothing walks nothing; a read walks once', async (t) => {
  const app = appFor(t)
  await app.register(proxy, { trust: ['10.0.0.0/8'] })
  const slots: unknown[][] = []
  app.addHook('onResponse', async (request) => {
    slots.push(Object.getOwnPropertySymbols(request).filter((s) => String(s).includes('@scaleout/proxy')).map((s) => (request as unknown as Record<symbol, unknown>)[s]))
  })
  app.get('/none', async () => 'ok')
  app.get('/ip', async (request) => {
    const first = [request.ips, request.forwarded]
    const again = [request.ips, request.forwarded]
    return { same: first[0] === again[0] && first[1] === again[1], ip: request.ip }
  })
  await app.inject({ url: '/none', remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '203.0.113.7' } })
  const read = await app.inject({ url: '/ip', remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '203.0.113.7' } })
  t.same(read.json(), { same: true, ip: '203.0.113.7' })
  t.same(slots[0], [null, null], 'both slots declared up front and never filled')
  t.equal(slots[1]?.filter((value) => value !== null).length, 2)
})

t.test('encapsulated: registered in one scope, sibling scopes keep Fastify\'s own values', async (t) => {
  const app = appFor(t)
  app.register(async (scope) => {
    await scope.register(proxy, { trust: ['10.0.0.0/8'] })
    scope.get('/inside', async (request) => request.ip)
  })
  app.get('/outside', async (request) => request.ip)
  const headers = { 'x-forwarded-for': '203.0.113.7' }
  t.equal((await app.inject({ url: '/inside', remoteAddress: '10.0.0.1', headers })).body, '203.0.113.7')
  t.equal((await app.inject({ url: '/outside', remoteAddress: '10.0.0.1', headers })).body, '10.0.0.1')
})

t.test('protocol comes from TLS when the peer is not trusted or forwards none', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scaleout-proxy-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-days', '1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
  const tls = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }
  const get = async (port: number, headers: Record<string, string>): Promise<{ protocol: string, ip: string }> => await new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/', headers, rejectUnauthorized: false }, (res: IncomingMessage) => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk.toString() })
      res.on('end', () => resolve(JSON.parse(body) as { protocol: string, ip: string }))
    })
    req.once('error', reject)
    req.end()
  })
  for (const [trust, expected] of [[['10.0.0.0/8'], { protocol: 'https', ip: '127.0.0.1' }], [['loopback'], { protocol: 'https', ip: '203.0.113.7' }]] as const) {
    // appFor takes no https options: this app is closed below, and on failure by its teardown.
    const app = Fastify({ https: tls })
    t.teardown(async () => await app.close())
    await app.register(proxy, { trust: [...trust] })
    app.get('/', async (request) => ({ protocol: request.protocol, ip: request.ip }))
    await app.listen({ host: '127.0.0.1', port: 0 })
    const port = (app.server.address() as { port: number }).port
    t.same(await get(port, { 'x-forwarded-for': '203.0.113.7' }), expected, `trust ${trust.join()}`)
    if (trust[0] === '10.0.0.0/8') t.same(await get(port, { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'http' }), expected, 'an untrusted peer cannot downgrade it')
    await app.close()
  }
})

t.test('a request whose socket is gone', async (t) => {
  const config = normalizeOptions({ trust: 'loopback' })
  t.equal(remoteOf({ socket: null } as unknown as IncomingMessage), undefined)
  t.equal(encryptedOf({ socket: null } as unknown as IncomingMessage), false)
  t.equal(encryptedOf({ socket: { encrypted: true } } as unknown as IncomingMessage), true)
  t.same(walk(config, undefined, { 'x-forwarded-for': '203.0.113.7' }), { ip: undefined, ips: [], index: 0, stop: 'untrusted-peer', element: null, protocol: undefined, host: undefined })
  t.same(walk(config, 'not-an-address', { 'x-forwarded-for': '203.0.113.7' }).ips, ['not-an-address'], 'an address Node never gives is passed through, never trusted')
  const app = appFor(t)
  await app.register(proxy, { trust: 'loopback' })
  app.addHook('onRequest', async (request) => { Object.defineProperty(request.raw, 'socket', { value: null }) })
  app.get('/', async (request) => ({ ip: request.ip ?? 'none', protocol: request.protocol, chain: request.forwarded.chain }))
  t.same((await app.inject({ url: '/', headers: { 'x-forwarded-for': '203.0.113.7' } })).json(), { ip: 'none', protocol: 'http', chain: [{ address: null, raw: '', trusted: false }] })
})

t.test('no peer address (a Unix socket): trustProxy(options) trusts nobody, and neither crashes nor answers 500', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scaleout-proxy-unix-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  t.equal(trustProxy({ trust: 'loopback' })(undefined as unknown as string, 0), false, 'Fastify passes an undefined peer as it is')
  const get = async (path: string, url: string, headers: Record<string, string>): Promise<{ status: number, body: string }> => await new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath: path, path: url, headers }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk.toString() })
      res.on('end', () => { resolve({ status: res.statusCode as number, body }) })
    })
    req.once('error', reject)
    req.end()
  })
  const forwarded = { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'shop.example', 'x-forwarded-proto': 'https' }
  // The logger reads request.ip and request.host for every request's first line, outside any handler.
  const helper = logSink()
  const viaHelper = appFor(t, { logger: helper.logger, trustProxy: trustProxy({ trust: 'loopback' }) })
  viaHelper.get('/', async (request) => ({ ip: request.ip ?? 'none', host: request.host, protocol: request.protocol }))
  await viaHelper.listen({ path: join(dir, 'helper.sock') })
  t.same(await get(join(dir, 'helper.sock'), '/', forwarded), { status: 200, body: '{"ip":"none","host":"localhost","protocol":"http"}' })
  t.same(helper.messages(50), [])
  const plugin = logSink()
  const viaPlugin = appFor(t, { logger: plugin.logger })
  await viaPlugin.register(proxy, { trust: 'all' })
  viaPlugin.get('/', async (request) => ({ ip: request.ip ?? 'none', host: request.host, protocol: request.protocol, stop: request.forwarded.stop }))
  await viaPlugin.listen({ path: join(dir, 'plugin.sock') })
  t.same(await get(join(dir, 'plugin.sock'), '/', forwarded), { status: 200, body: '{"ip":"none","host":"localhost","protocol":"http","stop":"untrusted-peer"}' }, 'even trust "all" trusts no peer it cannot name')
  t.same(plugin.messages(50), [])
})

t.test('trustProxy(options) for Fastify({ trustProxy })', async (t) => {
  const app = appFor(t, { trustProxy: trustProxy({ trust: ['10.0.0.0/8', '::1'], maxHops: 3 }) })
  app.get('/', async (request) => ({ ip: request.ip, ips: request.ips }))
  const ip = async (remoteAddress: string, xff: string): Promise<string> => (await app.inject({ url: '/', remoteAddress, headers: { 'x-forwarded-for': xff } })).json<{ ip: string }>().ip
  t.equal(await ip('10.0.0.1', '203.0.113.7, 10.0.0.2'), '203.0.113.7')
  t.equal(await ip('::ffff:10.0.0.1', '203.0.113.7, 10.0.0.2:8080'), '203.0.113.7', 'mapped peers and trusted hops with ports are recognised')
  t.equal(await ip('::1', '203.0.113.7'), '203.0.113.7')
  t.equal(await ip('198.51.100.1', '203.0.113.7'), '198.51.100.1')
  t.equal(await ip('10.0.0.1', '203.0.113.7, 10.0.0.4, 10.0.0.3, 10.0.0.2'), '10.0.0.4', 'maxHops: three trusted proxies, then the client')
  t.equal(await ip('10.0.0.1', '203.0.113.7, 010.0.0.2'), '010.0.0.2', 'garbage is never trusted (Fastify then reports it as is: register the plugin for the full rules)')

  const fn = trustProxy({ trust: 'loopback', header: 'x-forwarded-for' })
  t.equal(fn('fe80::1%lo', 0), false)
  t.equal(fn('127.0.0.1', 0), true)
  t.equal(fn('127.0.0.1:80', 1), true)
  t.equal(fn('127.0.0.1:80', 0), false, 'a socket address never has a port')
  t.throws(() => trustProxy({ trust: 'loopback', header: 'forwarded' as 'x-forwarded-for' }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `header` is invalid: expected "x-forwarded-for"/ })
  t.throws(() => trustProxy({ trust: 'loopback', allowedHosts: ['a.example'] } as unknown as Parameters<typeof trustProxy>[0]), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `allowedHosts` is invalid: expected no such option/ })
  t.throws(() => trustProxy('loopback' as unknown as Parameters<typeof trustProxy>[0]), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/proxy: option `options` is invalid: expected an object' })
  t.throws(() => trustProxy(undefined as unknown as Parameters<typeof trustProxy>[0]), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `trust` is invalid/ })
  t.throws(() => trustProxy({ trust: 'loopback', maxhops: 2 } as unknown as Parameters<typeof trustProxy>[0]), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `maxhops` is invalid: expected no such option: did you mean `maxHops`\? the options are trust, maxHops, header$/ })

  const warnings: Error[] = []
  const onWarning = (warning: Error): void => { warnings.push(warning) }
  process.on('warning', onWarning)
  t.teardown(() => process.off('warning', onWarning))
  const all = trustProxy({ trust: 'all' })
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(all('198.51.100.1', 5), true)
  t.match(warnings, [{ code: 'SCALEOUT_PROXY_TRUST_ALL', message: /trust is "all"/ }])
})
