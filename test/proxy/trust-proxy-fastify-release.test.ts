import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import Fastify from 'fastify'
import { errors, trustProxy, UnsafeFastifyError } from '@scaleout/proxy'

// Fastify 5.0.0 to 5.8.2 read X-Forwarded-Proto, and X-Forwarded-Host, from any peer once
// `trustProxy` was set, trusted or not (CVE-2026-3635, fixed in 5.8.3). Before, trustProxy(options)
// gave such a Fastify its trust list all the same: with `trust: ['10.0.0.0/8']`, a client connecting
// straight from 203.0.113.9 with `X-Forwarded-Proto: https` and `X-Forwarded-Host: evil.example`
// got request.protocol 'https' and request.host 'evil.example' (seen on a real Fastify 5.8.2).
const installed = (createRequire(import.meta.url)('fastify/package.json') as { version: string }).version
const release = '../../plugins/proxy/src/fastify-release.js'

t.test('trustProxy(options) refuses a Fastify that reads forwarded protocol and host from any peer', async (t) => {
  for (const version of ['5.0.0', '5.3.3', '5.8.0', '5.8.2', '5.8.2-rc.1', '5.8.3-rc.1']) {
    const { trustProxy: onOld } = await t.mockImport<typeof import('@scaleout/proxy')>('../../plugins/proxy/src/trust-proxy.js', {
      [release]: { ...await import(release), installedFastify: () => version }
    })
    t.throws(() => onOld({ trust: ['10.0.0.0/8'] }), {
      code: 'SCALEOUT_ERR_PROXY_UNSAFE_FASTIFY',
      statusCode: 500,
      message: `@scaleout/proxy: trustProxy(options) needs Fastify 5.8.3 or later: Fastify ${version} reads X-Forwarded-Proto and X-Forwarded-Host from any peer once trustProxy is set, trusted or not (CVE-2026-3635), so a client connecting directly would choose its own protocol and host. Upgrade Fastify, or register the plugin instead, which works on every Fastify 5 release`
    }, version)
  }
  for (const version of ['5.8.3', '5.9.0', '5.12.8', '6.0.0', undefined]) {
    const { trustProxy: onNew } = await t.mockImport<typeof import('@scaleout/proxy')>('../../plugins/proxy/src/trust-proxy.js', {
      [release]: { ...await import(release), installedFastify: () => version }
    })
    t.equal(typeof onNew({ trust: ['10.0.0.0/8'] }), 'function', `${String(version)}: accepted`)
  }
})

t.test('the Fastify found is the one the plugin resolves, and none is found where there is none', async (t) => {
  const { installedFastify } = await import(release) as { installedFastify: (from?: string) => string | undefined }
  t.equal(installedFastify(), installed)
  const empty = mkdtempSync(join(tmpdir(), 'scaleout-no-fastify-'))
  t.teardown(() => rmSync(empty, { recursive: true, force: true }))
  t.equal(installedFastify(pathToFileURL(join(empty, 'x.js')).href), undefined)
})

t.test('on the Fastify installed here, trustProxy(options) keeps an untrusted peer\'s protocol and host its own', async (t) => {
  const app = Fastify({ trustProxy: trustProxy({ trust: ['10.0.0.0/8'] }) })
  app.get('/', async (request) => ({ ip: request.ip, protocol: request.protocol, host: request.host }))
  t.teardown(async () => await app.close())
  const forged = { host: 'shop.example', 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' }
  t.same((await app.inject({ url: '/', remoteAddress: '203.0.113.9', headers: forged })).json(), { ip: '203.0.113.9', protocol: 'http', host: 'shop.example' })
  t.same((await app.inject({ url: '/', remoteAddress: '10.0.0.2', headers: forged })).json(), { ip: '1.2.3.4', protocol: 'https', host: 'evil.example' }, 'from a trusted peer, Fastify reads them (last value)')
})

t.test('errors lists UnsafeFastifyError under its code', async (t) => {
  t.equal(errors.SCALEOUT_ERR_PROXY_UNSAFE_FASTIFY, UnsafeFastifyError)
})
