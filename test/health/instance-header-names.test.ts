import t from 'tap'
import health from '@scaleout/health'
import { appFor } from '../helpers/index.js'
import { build } from './fixtures/app.js'

// Regression: instanceHeader took any token, so `instanceHeader: 'cache-control'` made every response
// `Cache-Control: <pod name>` (and 'vary', 'location', 'www-authenticate'... corrupted every response
// the same way). Standard names are now refused at registration.
const STANDARD = [
  // RFC 9110
  'accept', 'accept-charset', 'accept-encoding', 'accept-language', 'accept-ranges', 'allow',
  'authentication-info', 'authorization', 'connection', 'content-encoding', 'content-language',
  'content-length', 'content-location', 'content-range', 'content-type', 'date', 'etag', 'expect',
  'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'proxy-authenticate', 'proxy-authentication-info',
  'proxy-authorization', 'range', 'referer', 'retry-after', 'server', 'te', 'trailer', 'upgrade',
  'user-agent', 'vary', 'via', 'www-authenticate',
  // RFC 9111, RFC 9112, HTTP/2 connection headers
  'age', 'cache-control', 'expires', 'pragma', 'warning',
  'transfer-encoding', 'close', 'keep-alive', 'proxy-connection', 'http2-settings',
  // Fetch
  'set-cookie', 'set-cookie2', 'cookie', 'cookie2', 'dnt', 'origin',
  'access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-methods',
  'access-control-allow-headers', 'access-control-max-age', 'access-control-expose-headers',
  'access-control-request-method', 'access-control-request-headers', 'access-control-allow-private-network',
  'cross-origin-resource-policy', 'x-content-type-options',
  // Browser security and navigation
  'strict-transport-security', 'content-security-policy', 'content-security-policy-report-only',
  'x-frame-options', 'referrer-policy', 'permissions-policy', 'cross-origin-opener-policy',
  'cross-origin-embedder-policy', 'origin-agent-cluster', 'clear-site-data', 'content-disposition',
  'link', 'refresh', 'alt-svc', 'forwarded',
  // Fetch's forbidden prefixes
  'proxy-status', 'sec-fetch-site'
]

function message (name: string): string {
  return `@scaleout/health: option \`instanceHeader\` is invalid: expected a header name of your own such as "x-instance-id", not ${name}: ` +
    'a standard header that clients, proxies or caches act on, so an instance id in it would corrupt every response'
}

t.test('an instanceHeader named after a standard header is refused at registration, in any case', async (t) => {
  for (const name of STANDARD) {
    // Alternate spellings: as written, upper case, and title case.
    for (const given of [name, name.toUpperCase(), name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase())]) {
      const app = appFor(t)
      await t.rejects(async () => {
        await app.register(health, { signals: false, instanceHeader: given })
        await app.ready()
      }, { code: 'SCALEOUT_ERR_INVALID_OPTION', message: message(name) }, given)
    }
  }
})

t.test('custom names stay accepted and are sent on every response, the default x-served-by included', async (t) => {
  const previous = process.env.HOSTNAME
  process.env.HOSTNAME = 'pod-h'
  t.teardown(() => {
    if (previous === undefined) delete process.env.HOSTNAME
    else process.env.HOSTNAME = previous
  })
  const cases: Array<[true | string, string]> = [
    [true, 'x-served-by'], ['X-Served-By', 'x-served-by'], ['x-instance-id', 'x-instance-id'],
    ['X-Pod', 'x-pod'], ['served-by', 'served-by'], ['instance', 'instance'], ['x-cache-control', 'x-cache-control'],
    ['proxied-by', 'proxied-by'], ['secret-instance', 'secret-instance']
  ]
  for (const [option, header] of cases) {
    const { app } = await build(t, { instanceHeader: option })
    app.get('/work', async () => ({ ok: true }))
    for (const url of ['/work', '/health/live', '/missing']) {
      const res = await app.inject(url)
      t.equal(res.headers[header], 'pod-h', `${String(option)}: ${url}`)
    }
  }
})
