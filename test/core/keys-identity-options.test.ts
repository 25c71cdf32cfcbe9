import t from 'tap'
import fc from 'fast-check'
import { hostname } from 'node:os'
import {
  checkBoolean, checkFunction, checkInteger, checkPrefix, checkString, hashTag, hasLoneSurrogate, instanceIdentity, isPlainObject, key, parseDuration, taggedKey, MAX_TIMER_MS
} from '@scaleout/core'
import { adminFor, redisFor } from '../helpers/index.js'

const plugin = '@scaleout/test'

// Regression: braces became `_`, so `bob_x` and `bob{x` shared one session index.
t.test('hash tags are injective: different values never share a tag', async (t) => {
  const values = ['bob_x', 'bob{x', 'bob}x', 'bob%7Bx', 'bob%x', 'bob%25x', 'bob%257Bx', '{', '}', '%', '%7B', '%7D', '%25', '_', 'a{b}c', 'a_b_c']
  const tags = values.map((v) => hashTag(v))
  t.equal(new Set(tags).size, values.length, tags.join(' '))
  for (const tag of tags) t.match(tag, /^\{[^{}]+\}$/, 'one tag, no brace inside')
  t.equal(hashTag('user-42@example.com'), '{user-42@example.com}', 'plain ids stay readable')
  fc.assert(fc.property(fc.string({ unit: fc.constantFrom('{', '}', '%', '7', 'B', 'D', '2', '5', '_', 'x') }), fc.string({ unit: fc.constantFrom('{', '}', '%', '7', 'B', 'D', '2', '5', '_', 'x') }),
    (a, b) => a === b || hashTag(a) !== hashTag(b)), { numRuns: 5000 })
})

// Regression: an empty value made the tag `{}`, which Redis does not take for a tag (it hashes the
// whole key then): the keys meant to share a slot were spread over the Cluster's slots.
t.test('keys tagged with the same value share a Cluster slot, an empty value too', async (t) => {
  const server = await redisFor(t, { args: ['--cluster-enabled', 'yes'] })
  const admin = adminFor(t, server)
  const slot = async (key: string): Promise<number> => await admin.cluster('KEYSLOT', key) as number
  for (const value of ['', 'u42', '{', '}', '%', 'a{b}c']) {
    const slots = await Promise.all(['sessions', 'index', 'x:y'].map(async (part) => await slot(taggedKey('app:', value, part))))
    t.same(slots, Array(3).fill(slots[0]), JSON.stringify(value))
  }
  t.equal(hashTag(''), '{%}', 'a tag no other value has (a % of a value is always escaped)')
})

// The one check every plugin uses for names that reach Redis: two of these strings would name one key.
t.test('hasLoneSurrogate: true exactly for a surrogate that is not half of a pair', async (t) => {
  for (const lone of ['\uD800', 'a\uD800', '\uDC00b', 'a\uDC00\uD800b', '\uD83D\uDE00\uD800', '\uDE00\uD83D']) t.equal(hasLoneSurrogate(lone), true, JSON.stringify(lone))
  for (const whole of ['', 'bob', '\uFFFD', '\uD83D\uDE00', 'x\uD83D\uDE00y\uD83D\uDE00']) t.equal(hasLoneSurrogate(whole), false, JSON.stringify(whole))
  // What Redis would receive: each lone one is a U+FFFD, the same bytes as another string's.
  t.equal(Buffer.from('a\uD800').toString(), Buffer.from('a\uFFFD').toString())
})

t.test('keys: prefixes and Cluster hash tags', async (t) => {
  t.equal(key('app:', 'user', '42'), 'app:user:42')
  t.equal(hashTag('u42'), '{u42}')
  t.equal(hashTag('we{ir}d'), '{we%7Bir%7Dd}', 'braces in the value cannot end the tag early')
  t.equal(hashTag('50%'), '{50%25}')
  t.equal(taggedKey('app:', 'u42'), 'app:{u42}')
  t.equal(taggedKey('app:', 'u42', 'sessions'), 'app:{u42}:sessions')
  t.equal(taggedKey('app:', 'we{ir}d', 'x'), 'app:{we%7Bir%7Dd}:x')
  t.equal(taggedKey('app:', 'u42', 'sessions', 'x'), 'app:{u42}:sessions:x')
  t.equal(checkPrefix(plugin, 'prefix', 'myapp:sess:'), 'myapp:sess:')
  for (const bad of ['', 'has space', 'brace{', 'x'.repeat(129), 7, 'tab\t']) {
    t.throws(() => checkPrefix(plugin, 'prefix', bad), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /@scaleout\/test: option `prefix` is invalid: expected a key prefix of 1 to 128 printable characters/ })
  }
})

t.test('instance identity', async (t) => {
  const saved = { HOSTNAME: process.env.HOSTNAME, APP_VERSION: process.env.APP_VERSION }
  t.teardown(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })
  process.env.HOSTNAME = 'web-7f9c-abcde'
  process.env.APP_VERSION = '2.3.4'
  const identity = instanceIdentity({ version: '1.0.0' })
  t.equal(identity.id, 'web-7f9c-abcde')
  t.equal(identity.pid, process.pid)
  t.equal(identity.version, '2.3.4', 'APP_VERSION wins over the package version')
  t.ok(identity.startedAt instanceof Date && identity.startedAt.getTime() <= Date.now())
  t.ok(Object.isFrozen(identity))

  delete process.env.HOSTNAME
  process.env.APP_VERSION = ' '
  t.equal(instanceIdentity({ version: '1.0.0' }).id, hostname())
  t.equal(instanceIdentity({ version: '1.0.0' }).version, '1.0.0')
  delete process.env.APP_VERSION
  t.equal(instanceIdentity().version, 'unknown')
  t.equal(instanceIdentity().startedAt, identity.startedAt, 'the process start, not the call time')
})

t.test('option validators throw coded errors naming plugin, option and expectation', async (t) => {
  t.equal(checkInteger(plugin, 'n', 5, 1, 10), 5)
  t.throws(() => checkInteger(plugin, 'n', 5.5, 1), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: `@scaleout/test: option \`n\` is invalid: expected an integer from 1 to ${Number.MAX_SAFE_INTEGER}` })
  t.throws(() => checkInteger(plugin, 'n', '5', 1, 10), { message: '@scaleout/test: option `n` is invalid: expected an integer from 1 to 10' })
  t.throws(() => checkInteger(plugin, 'n', 11, 1, 10))
  t.equal(checkBoolean(plugin, 'b', false), false)
  t.throws(() => checkBoolean(plugin, 'b', 'yes'), { message: '@scaleout/test: option `b` is invalid: expected a boolean' })
  t.equal(checkString(plugin, 's', 'abc'), 'abc')
  t.throws(() => checkString(plugin, 's', ''), { message: '@scaleout/test: option `s` is invalid: expected a non-empty string' })
  t.throws(() => checkString(plugin, 's', 'abc', /^\d+$/, 'digits'), { message: '@scaleout/test: option `s` is invalid: expected digits' })
  const fn = (): number => 1
  t.equal(checkFunction(plugin, 'f', fn), fn)
  t.throws(() => checkFunction(plugin, 'f', 1), { message: '@scaleout/test: option `f` is invalid: expected a function' })
  t.equal(isPlainObject({}), true)
  t.equal(isPlainObject(Object.create(null)), true)
  t.equal(isPlainObject(new Date()), false)
  t.equal(isPlainObject(null), false)
  t.equal(isPlainObject([]), false)
})

t.test('durations: numbers in a unit, or strings with one', async (t) => {
  t.equal(parseDuration(plugin, 'ttl', 30), 30_000)
  t.equal(parseDuration(plugin, 'ttl', 250, 'ms'), 250)
  t.equal(parseDuration(plugin, 'ttl', 0), 0)
  t.equal(parseDuration(plugin, 'ttl', '500ms'), 500)
  t.equal(parseDuration(plugin, 'ttl', '1.5s'), 1500)
  t.equal(parseDuration(plugin, 'ttl', '15m'), 900_000)
  t.equal(parseDuration(plugin, 'ttl', '24h'), 86_400_000)
  t.equal(parseDuration(plugin, 'ttl', ' 7d '), 604_800_000)
  t.equal(parseDuration(plugin, 'ttl', '52w'), 52 * 604_800_000)
  t.ok(parseDuration(plugin, 'ttl', '52w') > MAX_TIMER_MS, 'long TTLs are allowed; timer users clamp to MAX_TIMER_MS')
  for (const bad of [-1, Number.NaN, Infinity, '10', '10 years', '', 'h', null, {}, 1e300]) {
    t.throws(() => parseDuration(plugin, 'ttl', bad), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `ttl` is invalid: expected a duration: a number of seconds/ })
  }
  t.throws(() => parseDuration(plugin, 'timeoutMs', 'x', 'ms'), { message: /expected a duration: a number of milliseconds/ })
})
