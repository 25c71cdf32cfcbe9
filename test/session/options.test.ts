import t from 'tap'
import Fastify from 'fastify'
import session from '@scaleout/session'
import { normalize } from '../../plugins/session/src/options.js'
import { SECRET } from './setup.js'

// Nothing listens on port 1: a bad option must fail before any connection is attempted.
const redis = 'redis://127.0.0.1:1'

async function registerWith (options: unknown): Promise<unknown> {
  const app = Fastify()
  try {
    await app.register(session, options as never)
    await app.ready()
    return undefined
  } catch (err) {
    return err
  } finally {
    await app.close()
  }
}

const cases: Array<[string, unknown, string]> = [
  ['options', { secret: SECRET, redis, store: {} }, 'option `options` is invalid: expected only known options (unknown: store)'],
  ['secret', { redis }, 'option `secret` is invalid'],
  ['secret', { secret: 'short', redis }, 'option `secret` is invalid'],
  ['secret', { secret: [], redis }, 'option `secret` is invalid'],
  ['secret', { secret: [SECRET, 'short'], redis }, 'option `secret` is invalid'],
  ['prefix', { secret: SECRET, redis, prefix: 'a{b}' }, 'option `prefix` is invalid'],
  ['ttl', { secret: SECRET, redis, ttl: 'soon' }, 'option `ttl` is invalid'],
  ['ttl', { secret: SECRET, redis, ttl: 0.5 }, 'option `ttl` is invalid: expected a duration from 1 second to 100 years'],
  ['maxLifetime', { secret: SECRET, redis, maxLifetime: '101000d' }, 'option `maxLifetime` is invalid: expected a duration from 1 second to 100 years'],
  ['cookie', { secret: SECRET, redis, cookie: 'yes' }, 'option `cookie` is invalid'],
  ['cookie', { secret: SECRET, redis, cookie: { expires: 1 } }, 'option `cookie` is invalid: expected only known options (unknown: expires)'],
  ['cookieName', { secret: SECRET, redis, cookieName: '__Host-sid' }, 'option `cookieName` is invalid'],
  ['cookieName', { secret: SECRET, redis, cookieName: 'a b' }, 'option `cookieName` is invalid'],
  ['cookieName', { secret: SECRET, redis, cookieName: 42 }, 'option `cookieName` is invalid'],
  ['cookie.path', { secret: SECRET, redis, cookie: { path: 'app' } }, 'option `cookie.path` is invalid'],
  ['cookie.path', { secret: SECRET, redis, cookie: { path: '/a;b' } }, 'option `cookie.path` is invalid'],
  ['cookie.domain', { secret: SECRET, redis, cookie: { domain: 'exa mple.com' } }, 'option `cookie.domain` is invalid'],
  ['cookie.domain', { secret: SECRET, redis, cookie: { domain: 7 } }, 'option `cookie.domain` is invalid'],
  ['cookie.domain', { secret: SECRET, redis, cookie: { domain: 'a.'.repeat(127) + 'com' } }, 'option `cookie.domain` is invalid'],
  ['cookie.secure', { secret: SECRET, redis, cookie: { secure: 'yes' } }, 'option `cookie.secure` is invalid'],
  ['cookie.sameSite', { secret: SECRET, redis, cookie: { sameSite: 'toString' } }, 'option `cookie.sameSite` is invalid'],
  ['cookie.sameSite', { secret: SECRET, redis, cookie: { sameSite: true } }, 'option `cookie.sameSite` is invalid'],
  ['cookie.sameSite', { secret: SECRET, redis, cookie: { sameSite: 'none' } }, 'option `cookie.sameSite` is invalid: expected "lax" or "strict" unless cookie.secure is true'],
  ['cookie.httpOnly', { secret: SECRET, redis, cookie: { httpOnly: 1 } }, 'option `cookie.httpOnly` is invalid'],
  ['cookie.partitioned', { secret: SECRET, redis, cookie: { partitioned: 'no' } }, 'option `cookie.partitioned` is invalid'],
  ['cookie.hostPrefix', { secret: SECRET, redis, cookie: { hostPrefix: null } }, 'option `cookie.hostPrefix` is invalid'],
  ['cookie.maxAge', { secret: SECRET, redis, cookie: { maxAge: -1 } }, 'option `cookie.maxAge` is invalid'],
  ['userKey', { secret: SECRET, redis, userKey: '' }, 'option `userKey` is invalid'],
  ['maxSize', { secret: SECRET, redis, maxSize: 10 }, 'option `maxSize` is invalid'],
  ['timeout', { secret: SECRET, redis, timeout: 0 }, 'option `timeout` is invalid']
]

for (const [option, options, message] of cases) {
  t.test(`invalid ${option}: ${JSON.stringify(options)?.slice(0, 80)}`, async (t) => {
    const err = await registerWith(options) as { code: string, message: string }
    t.equal(err.code, 'SCALEOUT_ERR_INVALID_OPTION')
    t.match(err.message, `@scaleout/session: ${message}`)
  })
}

t.test('options that are not an object', async (t) => {
  t.throws(() => normalize(null), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/session: option `options` is invalid: expected an object with at least `secret`' })
})

t.test('defaults', async (t) => {
  const settings = normalize({ secret: SECRET })
  t.same(settings, {
    secrets: [SECRET],
    redis: undefined,
    prefix: 'scaleout:sess:',
    ttlMs: 86_400_000,
    maxLifetimeMs: 7 * 86_400_000,
    cookie: { name: 'sessionId', securedName: '__Host-sessionId', path: '/', domain: undefined, secure: 'auto', sameSite: 'lax', httpOnly: true, maxAgeSeconds: undefined, partitioned: false },
    userKey: 'userId',
    maxSize: 65_536,
    timeoutMs: 1000
  })
  t.equal(normalize({ secret: SECRET, ttl: 90, maxLifetime: '30d', userKey: 'account', cookie: { maxAge: 3600 } }).ttlMs, 90_000)
})

t.test('without any way to reach Redis: SCALEOUT_ERR_REDIS_NOT_CONFIGURED', async (t) => {
  const saved = process.env.REDIS_URL
  delete process.env.REDIS_URL
  t.teardown(() => { if (saved !== undefined) process.env.REDIS_URL = saved })
  const err = await registerWith({ secret: SECRET }) as { code: string }
  t.equal(err.code, 'SCALEOUT_ERR_REDIS_NOT_CONFIGURED')
})

t.test('the plugin is exported as default and named, with its name for dependency checks', async (t) => {
  const mod = await import('@scaleout/session')
  t.equal(mod.default, mod.session)
  t.equal((mod.session as unknown as Record<symbol, unknown>)[Symbol.for('plugin-meta')] !== undefined, true)
  t.equal((mod.session as unknown as Record<symbol, { name: string }>)[Symbol.for('plugin-meta')]?.name, '@scaleout/session')
  t.equal(new mod.SessionUnavailableError().statusCode, 503)
  t.equal(new mod.SessionTooLargeError(2, 1).code, 'SCALEOUT_ERR_SESSION_TOO_LARGE')
  t.equal(new mod.SessionDisabledError().code, 'SCALEOUT_ERR_SESSION_DISABLED')
  t.equal(new mod.InvalidUserIdError('userId').code, 'SCALEOUT_ERR_SESSION_USER_ID')
  t.equal(new mod.InvalidSessionKeyError().code, 'SCALEOUT_ERR_SESSION_KEY')
})
