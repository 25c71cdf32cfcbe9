import t, { type Test } from 'tap'
import session from '@scaleout/session'
import { normalize } from '../../plugins/session/src/options.js'
import { appFor } from '../helpers/index.js'
import { SECRET } from './setup.js'

// Nothing listens on port 1: a bad option must fail before any connection is attempted.
const redis = 'redis://127.0.0.1:1'

async function registerWith (t: Test, options: unknown): Promise<unknown> {
  const app = appFor(t)
  try {
    await app.register(session, options as never)
    await app.ready()
    return undefined
  } catch (err) {
    return err
  }
}

const OPTIONS = 'the options are secret, redis, prefix, ttl, maxLifetime, cookieName, cookie, userKey, maxBytes, timeout'
const COOKIE_OPTIONS = 'the options are path, domain, secure, sameSite, httpOnly, partitioned, maxAge, hostPrefix'
const LIFETIME = 'a duration from 1s to 36500d: a number of milliseconds or a string such as "500ms", "30s", "15m", "24h"'

const cases: Array<[string, unknown, string]> = [
  ['a typo', { secret: SECRET, redis, tll: 60 }, `option \`tll\` is invalid: expected no such option: did you mean \`ttl\`? ${OPTIONS}`],
  ['a typo', { secret: SECRET, redis, maxByte: 100 }, `option \`maxByte\` is invalid: expected no such option: did you mean \`maxBytes\`? ${OPTIONS}`],
  ['an unknown option', { secret: SECRET, redis, store: {} }, `option \`store\` is invalid: expected no such option: ${OPTIONS}`],
  ['the renamed maxSize', { secret: SECRET, redis, maxSize: 1000 }, `option \`maxSize\` is invalid: expected no such option: ${OPTIONS}`],
  ['logLevel', { secret: SECRET, redis, logLevel: 'info' }, 'option `logLevel` is invalid: expected no such option: `logLevel` is a Fastify register option, which Fastify ignores for plugins wrapped in fastify-plugin such as this one'],
  ['logSerializers', { secret: SECRET, redis, logSerializers: {} }, 'option `logSerializers` is invalid: expected no such option: `logSerializers` is a Fastify register option'],
  ['secret', { redis }, 'option `secret` is invalid'],
  ['secret', { secret: 'short', redis }, 'option `secret` is invalid'],
  ['secret', { secret: [], redis }, 'option `secret` is invalid'],
  ['secret', { secret: [SECRET, 'short'], redis }, 'option `secret` is invalid'],
  ['prefix', { secret: SECRET, redis, prefix: 'a{b}' }, 'option `prefix` is invalid'],
  ['ttl', { secret: SECRET, redis, ttl: 'soon' }, 'option `ttl` is invalid'],
  ['ttl', { secret: SECRET, redis, ttl: 999 }, `option \`ttl\` is invalid: expected ${LIFETIME}`],
  ['ttl', { secret: SECRET, redis, ttl: '0.5s' }, `option \`ttl\` is invalid: expected ${LIFETIME}`],
  ['ttl', { secret: SECRET, redis, ttl: -1000 }, `option \`ttl\` is invalid: expected ${LIFETIME}`],
  ['maxLifetime', { secret: SECRET, redis, maxLifetime: '101000d' }, `option \`maxLifetime\` is invalid: expected ${LIFETIME}`],
  ['maxLifetime', { secret: SECRET, redis, maxLifetime: 'a week' }, `option \`maxLifetime\` is invalid: expected ${LIFETIME}`],
  ['cookie', { secret: SECRET, redis, cookie: 'yes' }, 'option `cookie` is invalid'],
  ['cookie', { secret: SECRET, redis, cookie: { expires: 1 } }, `option \`cookie.expires\` is invalid: expected no such option: ${COOKIE_OPTIONS}`],
  ['cookie', { secret: SECRET, redis, cookie: { sameSit: 'lax' } }, `option \`cookie.sameSit\` is invalid: expected no such option: did you mean \`sameSite\`? ${COOKIE_OPTIONS}`],
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
  ['cookie.maxAge', { secret: SECRET, redis, cookie: { maxAge: -1 } }, `option \`cookie.maxAge\` is invalid: expected ${LIFETIME}`],
  ['cookie.maxAge', { secret: SECRET, redis, cookie: { maxAge: 999 } }, `option \`cookie.maxAge\` is invalid: expected ${LIFETIME}`],
  ['userKey', { secret: SECRET, redis, userKey: '' }, 'option `userKey` is invalid'],
  ['maxBytes', { secret: SECRET, redis, maxBytes: 10 }, 'option `maxBytes` is invalid: expected an integer from 64 to 16777216'],
  ['maxBytes', { secret: SECRET, redis, maxBytes: '1kb' }, 'option `maxBytes` is invalid: expected an integer from 64 to 16777216'],
  ['timeout', { secret: SECRET, redis, timeout: 0 }, 'option `timeout` is invalid: expected a duration from 1ms to 1m: a number of milliseconds or a string such as "500ms", "30s", "15m", "24h"'],
  ['timeout', { secret: SECRET, redis, timeout: '61s' }, 'option `timeout` is invalid: expected a duration from 1ms to 1m']
]

for (const [option, options, message] of cases) {
  t.test(`invalid ${option}: ${JSON.stringify(options)?.slice(0, 80)}`, async (t) => {
    const err = await registerWith(t, options) as { code: string, message: string }
    t.equal(err.code, 'SCALEOUT_ERR_INVALID_OPTION')
    t.match(err.message, `@scaleout/session: ${message}`)
  })
}

t.test('options that are not an object', async (t) => {
  t.throws(() => normalize(null), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/session: option `options` is invalid: expected an object' })
  t.throws(() => normalize(undefined), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /^@scaleout\/session: option `secret` is invalid/ })
})

t.test('defaults', async (t) => {
  const settings = normalize({ secret: SECRET })
  t.same(settings, {
    secrets: [SECRET],
    redis: undefined,
    prefix: 'scaleout:sess:',
    ttl: 86_400_000,
    maxLifetime: 7 * 86_400_000,
    cookie: { name: 'sessionId', securedName: '__Host-sessionId', path: '/', domain: undefined, secure: 'auto', sameSite: 'lax', httpOnly: true, maxAgeSeconds: undefined, partitioned: false },
    userKey: 'userId',
    maxBytes: 65_536,
    timeout: 1000
  })
})

t.test('durations: a number is milliseconds, a string carries its unit', async (t) => {
  const numbers = normalize({ secret: SECRET, ttl: 90_000, maxLifetime: 3_600_000, timeout: 250, cookie: { maxAge: 3_600_000 } })
  t.same([numbers.ttl, numbers.maxLifetime, numbers.timeout, numbers.cookie.maxAgeSeconds], [90_000, 3_600_000, 250, 3600])
  const strings = normalize({ secret: SECRET, ttl: '90s', maxLifetime: '30d', timeout: '2s', cookie: { maxAge: '1h' } })
  t.same([strings.ttl, strings.maxLifetime, strings.timeout, strings.cookie.maxAgeSeconds], [90_000, 30 * 86_400_000, 2000, 3600])
  t.same([normalize({ secret: SECRET, ttl: 1000 }).ttl, normalize({ secret: SECRET, maxLifetime: '36500d' }).maxLifetime, normalize({ secret: SECRET, timeout: 60_000 }).timeout], [1000, 36_500 * 86_400_000, 60_000], 'the ends of the ranges')
})

t.test('prefix is the Redis key prefix (the plugin takes it, Fastify\'s register does not route it)', async (t) => {
  t.equal(normalize({ secret: SECRET, prefix: 'app:sess:' }).prefix, 'app:sess:')
})

t.test('userKey names the session key holding the user id', async (t) => {
  t.equal(normalize({ secret: SECRET, userKey: 'account' }).userKey, 'account')
  t.throws(() => normalize({ secret: SECRET, userKey: 'k'.repeat(257) }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/session: option `userKey` is invalid: expected a session key name of 1 to 256 characters' })
})

t.test('without any way to reach Redis: SCALEOUT_ERR_REDIS_NOT_CONFIGURED', async (t) => {
  const saved = process.env.REDIS_URL
  delete process.env.REDIS_URL
  t.teardown(() => { if (saved !== undefined) process.env.REDIS_URL = saved })
  const err = await registerWith(t, { secret: SECRET }) as { code: string }
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
  t.equal(new mod.SessionNotLoadedError().code, 'SCALEOUT_ERR_SESSION_NOT_LOADED')
  t.equal(new mod.SessionEvictionError('allkeys-lru').code, 'SCALEOUT_ERR_SESSION_EVICTION')
})

t.test('errors: every code the plugin can throw, its own and the core\'s, maps to its class', async (t) => {
  const mod = await import('@scaleout/session')
  const core = await import('@scaleout/core')
  t.ok(Object.isFrozen(mod.errors))
  for (const [code, ErrorClass] of Object.entries(mod.errors)) {
    const err = new (ErrorClass as new (...args: unknown[]) => Error & { code: string })('a', 'b', 'c')
    t.equal(err.code, code, code)
    t.ok(err instanceof ErrorClass, code)
  }
  const own = [mod.SessionUnavailableError, mod.SessionTooLargeError, mod.SessionDisabledError, mod.InvalidUserIdError, mod.InvalidSessionKeyError, mod.SessionNotLoadedError, mod.SessionEvictionError]
  t.same(Object.values(mod.errors).filter((e) => !Object.values(core.coreErrors).includes(e as never)), own, 'every session error class, each exported by name')
  for (const [code, ErrorClass] of Object.entries(core.coreErrors)) t.equal((mod.errors as Record<string, unknown>)[code], ErrorClass, `core ${code}`)
  t.equal(Object.keys(mod.errors).length, Object.keys(core.coreErrors).length + own.length)
})
