import t, { type Test } from 'tap'
import proxy, { PRESETS } from '@scaleout/proxy'
import type { ProxyOptions } from '@scaleout/proxy'
import { appFor, logSink } from '../helpers/index.js'

const INVALID = 'SCALEOUT_ERR_INVALID_OPTION'

async function register (t: Test, options: unknown): Promise<void> {
  const app = appFor(t)
  await app.register(proxy, options as ProxyOptions)
  await app.ready()
}

t.test('invalid options fail registration with a coded error naming the option', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [undefined, /option `trust` is invalid: expected "all", or a non-empty list/],
    [{}, /option `trust` is invalid: expected "all", or a non-empty list/],
    [{ trust: [] }, /option `trust` is invalid/],
    [{ trust: '' }, /option `trust` is invalid/],
    [{ trust: ['10.0.0.1', 7] }, /option `trust` is invalid/],
    [{ trust: ['10.0.0.1', ' '] }, /option `trust` is invalid/],
    [{ trust: 'loopback,' }, /option `trust` is invalid/],
    [{ trust: 42 }, /option `trust` is invalid/],
    [{ trust: ['10.0.0.300'] }, /got "10.0.0.300"/],
    [{ trust: ['10.0.0.0/33'] }, /got "10.0.0.0\/33"/],
    [{ trust: ['10.0.0.0/x'] }, /got "10.0.0.0\/x"/],
    [{ trust: ['10.0.0.0/'] }, /got "10.0.0.0\/"/],
    [{ trust: ['2001:db8::/129'] }, /got "2001:db8::\/129"/],
    [{ trust: ['0.0.0.0/0'] }, /got "0.0.0.0\/0"/],
    [{ trust: ['::/0'] }, /got "::\/0"/],
    [{ trust: ['::ffff:0.0.0.0/95'] }, /got "::ffff:0.0.0.0\/95"/],
    [{ trust: ['::ffff:0.0.0.0/96'] }, /got "::ffff:0.0.0.0\/96"/],
    // IPv6 ranges around the IPv4-mapped block, which would trust every IPv4 peer (they once did).
    [{ trust: ['::/1'] }, /got "::\/1"/],
    [{ trust: ['::/64'] }, /got "::\/64"/],
    [{ trust: ['loopback', '::/80'] }, /got "::\/80"/],
    [{ trust: ['::fffe:0:0/95'] }, /got "::fffe:0:0\/95"/],
    [{ trust: ['publicnet'] }, /got "publicnet"/],
    [{ trust: ['10.0.0.1:80'] }, /got "10.0.0.1:80"/],
    [{ trust: ['all', 'loopback'] }, /expected "all" on its own/],
    [{ trust: 'loopback', maxHops: 0 }, /option `maxHops` is invalid: expected an integer from 1 to 1000/],
    [{ trust: 'loopback', maxHops: 1.5 }, /option `maxHops` is invalid/],
    [{ trust: 'loopback', maxHops: 1001 }, /option `maxHops` is invalid: expected an integer from 1 to 1000/],
    [{ trust: 'loopback', header: 'x-client-ip' }, /option `header` is invalid: expected one of x-forwarded-for, forwarded, x-real-ip, cf-connecting-ip, true-client-ip/],
    [{ trust: 'loopback', header: ['x-forwarded-for', 'forwarded'] }, /option `header` is invalid/],
    [{ trust: 'loopback', allowedHosts: [] }, /option `allowedHosts` is invalid: expected a non-empty array of host names/],
    [{ trust: 'loopback', allowedHosts: 'example.com' }, /option `allowedHosts` is invalid/],
    [{ trust: 'loopback', allowedHosts: ['example.com:443'] }, /got "example.com:443"/],
    [{ trust: 'loopback', allowedHosts: ['exa mple.com'] }, /got "exa mple.com"/],
    [{ trust: 'loopback', allowedHosts: [7] }, /got 7/],
    [{ trust: 'loopback', allowedHosts: ['*.'] }, /got "\*."/],
    [{ trust: 'loopback', allowedHosts: ['127.1'] }, /got "127.1"/],
    [{ trust: 'loopback', trustProxy: true }, /option `trustProxy` is invalid: expected no such option: the options are trust, maxHops, header, allowedHosts$/],
    [{ trust: 'loopback', maxhops: 2 }, /option `maxhops` is invalid: expected no such option: did you mean `maxHops`\? the options are trust, maxHops, header, allowedHosts$/],
    [{ trust: 'loopback', allowedHost: ['example.com'] }, /option `allowedHost` is invalid: expected no such option: did you mean `allowedHosts`\?/],
    [{ trsut: 'loopback' }, /option `trsut` is invalid: expected no such option: did you mean `trust`\?/],
    ['loopback', /option `options` is invalid: expected an object$/]
  ]
  for (const [options, message] of cases) {
    await t.rejects(register(t, options), { code: INVALID, message: new RegExp(`^@scaleout/proxy: (.*)${message.source}`) }, JSON.stringify(options))
  }
})

// Before, these were let through and ignored: the plugin adds no routes, and Fastify ignores
// `prefix` for a fastify-plugin plugin, so `{ prefix: '/api' }` changed nothing and said nothing.
t.test('Fastify\'s register keys are refused: the plugin has no routes for them to act on', async (t) => {
  for (const key of ['prefix', 'logLevel', 'logSerializers']) {
    const options = { trust: 'loopback', [key]: key === 'logSerializers' ? {} : key === 'prefix' ? '/api' : 'warn' }
    await t.rejects(register(t, options), {
      code: INVALID,
      message: `@scaleout/proxy: option \`${key}\` is invalid: expected no such option: \`${key}\` is a Fastify register option, which Fastify ignores for plugins wrapped in fastify-plugin such as this one`
    }, key)
  }
})

t.test('valid forms register', async (t) => {
  for (const trust of ['loopback', 'loopback, private', ['linklocal', 'uniquelocal'], ['10.0.0.1', '10.0.0.0/8', '2001:DB8::/32', '::1', '::ffff:10.0.0.0/104', 'fe80::/10'], ['10.0.0.1/8'], ['::ffff:0.0.0.0/97', '::/97']]) {
    await t.resolves(register(t, { trust }), JSON.stringify(trust))
  }
  await t.resolves(register(t, { trust: 'loopback', maxHops: 2, header: 'forwarded', allowedHosts: ['example.com', '*.example.org', '[::1]', '192.0.2.1'] }))
  await t.resolves(register(t, { trust: 'loopback', maxHops: 1000 }), 'the largest maxHops')
})

t.test('presets are the documented ranges', async (t) => {
  t.same(PRESETS, {
    loopback: ['127.0.0.0/8', '::1/128'],
    linklocal: ['169.254.0.0/16', 'fe80::/10'],
    uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
    private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']
  })
})

t.test('trust "all" logs a warning at start-up and trusts every peer', async (t) => {
  const logs = logSink('warn')
  const app = appFor(t, { logger: logs.logger })
  await app.register(proxy, { trust: 'all' })
  app.get('/', async (request) => request.ip)
  await app.ready()
  const warnings = logs.lines
  t.equal(warnings.length, 1)
  t.equal(warnings[0]?.level, 40)
  t.match(warnings[0]?.msg, /trust is "all": every peer may set the client address/)
  const response = await app.inject({ url: '/', remoteAddress: '198.51.100.1', headers: { 'x-forwarded-for': '203.0.113.9, 198.51.100.2' } })
  t.equal(response.body, '203.0.113.9', 'with everything trusted, the leftmost entry')
})
