import t from 'tap'
import { build, controlled } from './fixtures/app.js'

async function details (app: Awaited<ReturnType<typeof build>>['app'], remoteAddress: string, headers: Record<string, string> = {}): Promise<{ code: number, body: Record<string, unknown> }> {
  const res = await app.inject({ url: '/health', remoteAddress, headers })
  return { code: res.statusCode, body: res.json() }
}

t.test('by default only loopback callers see details; others get the status alone', async (t) => {
  const dep = controlled('pass')
  const { app, exits } = await build({ checks: { dep: { check: dep.check, intervalMs: 60_000 } }, drainDelayMs: 2000 })
  await app.ready()
  for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) {
    const { code, body } = await details(app, address)
    t.equal(code, 200, address)
    t.same(Object.keys(body), ['status', 'instance', 'version', 'uptime', 'checks'], `${address} sees details`)
  }
  for (const address of ['10.1.2.3', '192.0.2.1', 'fd00::1', '::ffff:10.1.2.3']) {
    t.same(await details(app, address), { code: 200, body: { status: 'pass' } }, `${address} sees the status alone`)
  }
  dep.set('fail')
  await app.health.refresh()
  t.same(await details(app, '10.1.2.3'), { code: 503, body: { status: 'fail' } })
  const drained = app.health.drain()
  t.same(await details(app, '10.1.2.3'), { code: 503, body: { status: 'fail', output: 'draining' } })
  t.match((await details(app, '127.0.0.1')).body, { status: 'fail', output: 'draining', checks: { 'dep:responseTime': [{ status: 'fail' }] } })
  await drained
  t.same(exits, [0])
})

t.test('detailsAllowList takes addresses and CIDR ranges of both families, mapped IPv4 included', async (t) => {
  const { app } = await build({ detailsAllowList: ['10.0.0.0/8', '192.0.2.10', 'fd00::/8', ' 2001:db8::5 '] })
  t.teardown(async () => await app.close())
  await app.ready()
  for (const address of ['10.200.0.1', '::ffff:10.0.0.9', '192.0.2.10', 'fd12:3456::1', '2001:db8::5']) {
    t.equal((await details(app, address)).body.instance, app.health.identity.id, `${address} is allowed`)
  }
  for (const address of ['127.0.0.1', '::1', '192.0.2.11', '11.0.0.1', '2001:db8::6']) {
    t.same((await details(app, address)).body, { status: 'pass' }, `${address} is not`)
  }
})

t.test('an empty allow list shows details to nobody', async (t) => {
  const { app } = await build({ detailsAllowList: [] })
  t.teardown(async () => await app.close())
  await app.ready()
  t.same((await details(app, '127.0.0.1')).body, { status: 'pass' })
})

t.test('exposeDetails: true shows details to every caller', async (t) => {
  const { app } = await build({ exposeDetails: true, detailsAllowList: [] })
  t.teardown(async () => await app.close())
  await app.ready()
  t.equal((await details(app, '203.0.113.5')).body.status, 'pass')
  t.ok('checks' in (await details(app, '203.0.113.5')).body)
})

t.test('the address is request.ip, so behind a trusted proxy the forwarded client counts, and garbage is refused', async (t) => {
  const { app } = await build({ detailsAllowList: ['10.0.0.0/8'] }, { trustProxy: true })
  t.teardown(async () => await app.close())
  await app.ready()
  t.ok('checks' in (await details(app, '127.0.0.1', { 'x-forwarded-for': '10.3.3.3' })).body)
  t.same((await details(app, '10.0.0.1', { 'x-forwarded-for': '198.51.100.7' })).body, { status: 'pass' })
  t.same((await details(app, '10.0.0.1', { 'x-forwarded-for': 'not-an-address' })).body, { status: 'pass' })
})
