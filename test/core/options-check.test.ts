import t from 'tap'
import { checkDuration, checkKeys, checkOptions, checkSecrets, closestName } from '../../lib/src/index.js'

const KNOWN = ['ttl', 'prefix', 'maxBytes', 'timeout']

t.test('an unknown key is refused, naming the closest known one', async (t) => {
  t.throws(() => checkOptions('@scaleout/x', { tll: 60 }, KNOWN), {
    code: 'SCALEOUT_ERR_INVALID_OPTION',
    message: '@scaleout/x: option `tll` is invalid: expected no such option: did you mean `ttl`? the options are ttl, prefix, maxBytes, timeout'
  })
  t.throws(() => checkOptions('@scaleout/x', { zzzzzzzz: 1 }, KNOWN), {
    message: '@scaleout/x: option `zzzzzzzz` is invalid: expected no such option: the options are ttl, prefix, maxBytes, timeout'
  })
  t.throws(() => checkKeys('@scaleout/x', 'cookie', { nmae: 'a' }, ['name', 'path']), { message: /option `cookie\.nmae` is invalid: expected no such option: did you mean `name`\?/ })
  t.equal(closestName('MAXBYTES', KNOWN), 'maxBytes', 'case does not count against a name')
  t.throws(() => checkOptions('@scaleout/x', { maxSize: 1 }, KNOWN, { maxSize: 'maxBytes' }), {
    message: "@scaleout/x: option `maxSize` is invalid: expected no such option: it is now `maxBytes` (see the README's list of changes)"
  }, 'a renamed option names its new name')
  t.throws(() => checkKeys('@scaleout/x', 'l1', { ttlMs: 1 }, ['ttl'], { ttlMs: 'ttl' }), { message: /option `l1\.ttlMs` is invalid: expected no such option: it is now `ttl`/ })
})

t.test('Fastify register keys are refused unless the plugin honours them', async (t) => {
  for (const key of ['prefix', 'logLevel', 'logSerializers']) {
    t.throws(() => checkOptions('@scaleout/x', { [key]: 'x' }, ['ttl']), {
      code: 'SCALEOUT_ERR_INVALID_OPTION',
      message: new RegExp(`option \`${key}\` is invalid: expected no such option: \`${key}\` is a Fastify register option, which Fastify ignores for plugins wrapped in fastify-plugin`)
    }, key)
  }
  t.same(checkOptions('@scaleout/x', { prefix: 'a:' }, KNOWN), { prefix: 'a:' }, 'a plugin that lists one honours it')
  t.throws(() => checkKeys('@scaleout/x', 'cookie', { prefix: 'a' }, ['name']), { message: /option `cookie\.prefix` is invalid: expected no such option: the options are name/ }, 'only top-level keys reach Fastify')
})

t.test('options must be a plain object; undefined counts as none', async (t) => {
  t.same(checkOptions('@scaleout/x', undefined, KNOWN), {})
  for (const bad of [null, 1, 'x', [], new Map()]) {
    t.throws(() => checkOptions('@scaleout/x', bad, KNOWN), { message: '@scaleout/x: option `options` is invalid: expected an object' })
  }
})

t.test('durations are milliseconds or strings with a unit, within a range', async (t) => {
  const range = { min: 1, max: 3_600_000 }
  t.equal(checkDuration('@scaleout/x', 'timeout', 250, range), 250)
  t.equal(checkDuration('@scaleout/x', 'timeout', '2s', range), 2000)
  t.equal(checkDuration('@scaleout/x', 'timeout', '1h', range), 3_600_000)
  for (const bad of [0, -1, 3_600_001, '2h', 'soon', Number.NaN, Infinity, null, true]) {
    t.throws(() => checkDuration('@scaleout/x', 'timeout', bad, range), {
      code: 'SCALEOUT_ERR_INVALID_OPTION',
      message: '@scaleout/x: option `timeout` is invalid: expected a duration from 1ms to 1h: a number of milliseconds or a string such as "500ms", "30s", "15m", "24h"'
    }, String(bad))
  }
  t.throws(() => checkDuration('@scaleout/x', 'ttl', 10, { min: 1000, max: 90_000 }), { message: /expected a duration from 1s to 90s:/ })
  t.throws(() => checkDuration('@scaleout/x', 'ttl', 10, { min: 60_000, max: 172_800_000 }), { message: /expected a duration from 1m to 2d:/ })
})

t.test('secrets are one long string or a non-empty list of them', async (t) => {
  const secret = 'a'.repeat(32)
  t.same(checkSecrets('@scaleout/x', 'secret', secret), [secret])
  t.same(checkSecrets('@scaleout/x', 'secret', [secret, 'b'.repeat(40)]), [secret, 'b'.repeat(40)])
  for (const bad of [undefined, '', 'short', [], [secret, 'short'], [1]]) {
    t.throws(() => checkSecrets('@scaleout/x', 'secret', bad, ': why'), { message: '@scaleout/x: option `secret` is invalid: expected a string of at least 32 characters, or a non-empty array of them (the first signs): why' })
  }
})

t.test('coreErrors maps every core code to its class', async (t) => {
  const { coreErrors } = await import('../../lib/src/index.js')
  for (const [code, ErrorClass] of Object.entries(coreErrors)) {
    t.equal(new ErrorClass('a', 'b', 'c').code, code, code)
  }
  t.equal(Object.keys(coreErrors).length, 11)
})
