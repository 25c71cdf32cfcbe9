import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { get as httpGet } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build, controlled } from './fixtures/app.js'

async function details (app: Awaited<ReturnType<typeof build>>['app'], remoteAddress: string, headers: Record<string, string> = {}): Promise<{ code: number, body: Record<string, unknown> }> {
  const res = await app.inject({ url: '/health', remoteAddress, headers })
  return { code: res.statusCode, body: res.json() }
}

// Before, loopback saw details by default: behind nginx or a sidecar on the same host, every
// client arrives from 127.0.0.1, so every client saw check names and error texts.
t.test('by default nobody sees details, loopback included; everyone gets the status alone', async (t) => {
  const dep = controlled('pass')
  const { app, exits } = await build(t, { checks: { dep: { check: dep.check, interval: 60_000 } }, drainDelay: 2000 })
  await app.ready()
  for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '10.1.2.3', '192.0.2.1', 'fd00::1']) {
    t.same(await details(app, address), { code: 200, body: { status: 'pass' } }, `${address} sees the status alone`)
  }
  dep.set('fail')
  await app.health.refresh()
  t.same(await details(app, '127.0.0.1'), { code: 503, body: { status: 'fail' } })
  const drained = app.health.drain()
  t.same(await details(app, '127.0.0.1'), { code: 503, body: { status: 'fail', output: 'draining' } })
  await drained
  t.same(exits, [0])
})

t.test('the report still reaches allowed callers while failing and draining', async (t) => {
  const dep = controlled('fail')
  const { app, exits } = await build(t, { checks: { dep: { check: dep.check, interval: 60_000 } }, drainDelay: 2000, detailsAllowList: ['127.0.0.1'] })
  await app.ready()
  const drained = app.health.drain()
  t.same(await details(app, '10.1.2.3'), { code: 503, body: { status: 'fail', output: 'draining' } })
  t.match((await details(app, '127.0.0.1')).body, { status: 'fail', output: 'draining', checks: { 'dep:responseTime': [{ status: 'fail' }] } })
  await drained
  t.same(exits, [0])
})

t.test('detailsAllowList takes addresses and CIDR ranges of both families, mapped IPv4 included', async (t) => {
  const { app } = await build(t, { detailsAllowList: ['10.0.0.0/8', '192.0.2.10', 'fd00::/8', ' 2001:db8::5 '] })
  await app.ready()
  for (const address of ['10.200.0.1', '::ffff:10.0.0.9', '192.0.2.10', 'fd12:3456::1', '2001:db8::5']) {
    t.equal((await details(app, address)).body.instance, app.health.identity.id, `${address} is allowed`)
  }
  for (const address of ['127.0.0.1', '::1', '192.0.2.11', '11.0.0.1', '2001:db8::6']) {
    t.same((await details(app, address)).body, { status: 'pass' }, `${address} is not`)
  }
})

t.test('detailsAllowList takes the same presets and IPv4-mapped ranges as the proxy\'s trust', async (t) => {
  const { app } = await build(t, { detailsAllowList: ['Private', '::ffff:198.51.100.0/120'] })
  await app.ready()
  for (const address of ['10.1.2.3', '172.16.0.1', '192.168.9.9', 'fd00::1', '198.51.100.77', '::ffff:198.51.100.1']) {
    t.equal((await details(app, address)).body.instance, app.health.identity.id, `${address} is allowed`)
  }
  for (const address of ['127.0.0.1', '::1', '198.51.101.1', '8.8.8.8', 'fe80::1']) {
    t.same((await details(app, address)).body, { status: 'pass' }, `${address} is not`)
  }
})

t.test('an empty allow list shows details to nobody', async (t) => {
  const { app } = await build(t, { detailsAllowList: [] })
  await app.ready()
  t.same((await details(app, '127.0.0.1')).body, { status: 'pass' })
})

t.test('exposeDetails: true shows details to every caller', async (t) => {
  const { app } = await build(t, { exposeDetails: true, detailsAllowList: [] })
  await app.ready()
  t.equal((await details(app, '203.0.113.5')).body.status, 'pass')
  t.ok('checks' in (await details(app, '203.0.113.5')).body)
})

t.test('the address is request.ip, so behind a trusted proxy the forwarded client counts, and garbage is refused', async (t) => {
  const { app } = await build(t, { detailsAllowList: ['10.0.0.0/8'] }, { trustProxy: '127.0.0.1' })
  await app.ready()
  t.ok('checks' in (await details(app, '127.0.0.1', { 'x-forwarded-for': '10.3.3.3' })).body)
  t.same((await details(app, '127.0.0.1', { 'x-forwarded-for': '198.51.100.7' })).body, { status: 'pass' })
  t.same((await details(app, '127.0.0.1', { 'x-forwarded-for': 'not-an-address' })).body, { status: 'pass' })
})

// Fastify's trustProxy: true lets any client write request.ip. The default allows nobody, so a
// forged X-Forwarded-For: 127.0.0.1 unlocks nothing, whoever sends it.
t.test('with trustProxy: true and the defaults, a forged X-Forwarded-For: 127.0.0.1 unlocks nothing', async (t) => {
  const { app } = await build(t, {}, { trustProxy: true })
  await app.ready()
  for (const remote of ['203.0.113.5', '127.0.0.1', '::1']) {
    for (const forged of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '203.0.113.5, 127.0.0.1']) {
      t.same((await details(app, remote, { 'x-forwarded-for': forged })).body, { status: 'pass' }, `${forged} from ${remote}`)
    }
  }
})

// A proxy on the same host that the app does not read (no @scaleout/proxy, no trustProxy): every
// client is 127.0.0.1. Even an operator who lists loopback does not hand them the report.
t.test('a request that names a forwarded client but is attributed to the peer that delivered it never counts', async (t) => {
  const { app } = await build(t, { detailsAllowList: ['127.0.0.0/8', '::1', '10.0.0.0/8'] })
  await app.ready()
  const forwarding = ['forwarded', 'x-forwarded-for', 'x-real-ip', 'x-forwarded-host', 'x-forwarded-proto', 'cf-connecting-ip', 'true-client-ip']
  for (const header of forwarding) {
    for (const remote of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '10.0.0.5']) {
      t.same((await details(app, remote, { [header]: '203.0.113.5' })).body, { status: 'pass' }, `${header} via ${remote}`)
    }
  }
  t.ok('checks' in (await details(app, '127.0.0.1')).body, 'a direct local caller with no forwarding header still counts')
  t.ok('checks' in (await details(app, '::ffff:10.0.0.5')).body)
})

t.test('behind a proxy the app reads, the forwarded client counts only when it is not the peer itself', async (t) => {
  const { app } = await build(t, { detailsAllowList: ['127.0.0.0/8', '::1'] }, { trustProxy: ['127.0.0.1', '::1'] })
  await app.ready()
  t.ok('checks' in (await details(app, '127.0.0.1', { 'x-forwarded-for': '127.0.0.2' })).body, 'another loopback client')
  t.same((await details(app, '127.0.0.1', { 'x-forwarded-for': '127.0.0.1' })).body, { status: 'pass' }, 'the proxy\'s own address')
  t.same((await details(app, '::ffff:127.0.0.1', { 'x-forwarded-for': '0:0:0:0:0:ffff:7f00:1' })).body, { status: 'pass' }, 'in any spelling')
  t.same((await details(app, '::1', { 'x-forwarded-for': '0:0::1' })).body, { status: 'pass' })
  t.same((await details(app, '::1', { 'x-forwarded-for': 'garbage' })).body, { status: 'pass' })
})

t.test('a forwarded request whose socket address is gone (an HTTP/2 stream after its session closed) never counts', async (t) => {
  const { app } = await build(t, { detailsAllowList: ['127.0.0.0/8'] }, { trustProxy: true })
  app.addHook('onRequest', async (request) => {
    Object.defineProperty(request.raw.socket, 'remoteAddress', { value: undefined })
  })
  await app.ready()
  t.same((await details(app, '127.0.0.1', { 'x-forwarded-for': '127.0.0.1' })).body, { status: 'pass' })
})

// Behind nginx or a sidecar on a Unix socket, request.ip is undefined: no address, so no details,
// and never a 500.
t.test('a request with no peer address (a Unix socket) gets the status alone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scaleout-health-unix-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const { app } = await build(t, { detailsAllowList: ['10.0.0.0/8', '127.0.0.1'] })
  const path = join(dir, 'health.sock')
  await app.listen({ path })
  const get = async (url: string): Promise<{ code: number, body: string }> => await new Promise((resolve, reject) => {
    httpGet({ socketPath: path, path: url }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk.toString() })
      res.on('end', () => { resolve({ code: res.statusCode as number, body }) })
    }).once('error', reject)
  })
  t.same(await get('/health'), { code: 200, body: '{"status":"pass"}' })
  t.same(await get('/health/ready'), { code: 200, body: '{"status":"pass"}' })
})
