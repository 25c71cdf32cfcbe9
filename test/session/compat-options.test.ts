import t, { type Test } from 'tap'
import { normalize } from '../../plugins/session/src/options.js'
import { newId } from '../../plugins/session/src/signing.js'

// The option checks @fastify/session's suite makes, and the ones it accepts that this plugin
// refuses (each named in the README's migration table).

const PREFIX = '@scaleout/session: option '
const SHORT = 'expected a string of at least 32 characters, or a non-empty array of them (the first signs)'
const SIGNER = 'a signer object is not supported, the plugin signs with HMAC-SHA256 and rotates secrets given as an array'
const S32 = 'k'.repeat(32)

const refused = (t: Test, options: unknown, message: string): void => {
  t.throws(() => normalize(options as never), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: new RegExp('^' + (PREFIX + message).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) })
}

t.test('secrets', async (t) => {
  t.same(normalize({ secret: S32 }).secrets, [S32], '32 characters: accepted')
  t.same(normalize({ secret: [S32, 'j'.repeat(40)] }).secrets, [S32, 'j'.repeat(40)], 'several, each of 32 or more: accepted')
  refused(t, {}, '`secret` is invalid')
  refused(t, { secret: 'k'.repeat(31) }, '`secret` is invalid: ' + SHORT)
  refused(t, { secret: [] }, '`secret` is invalid: ' + SHORT)
  refused(t, { secret: ['k'.repeat(31)] }, '`secret` is invalid: ' + SHORT)
  refused(t, { secret: [S32, 'j'.repeat(30)] }, '`secret` is invalid: ' + SHORT)
  refused(t, { secret: Buffer.alloc(32, 1) }, '`secret` is invalid: expected a string of at least 32 characters or an array of them: ' + SIGNER)
  refused(t, { secret: { sign: (v: string) => v, unsign: true } }, '`secret` is invalid: expected a string of at least 32 characters or an array of them: ' + SIGNER)
  refused(t, { secret: { unsign: () => true } }, '`secret` is invalid: expected a string of at least 32 characters or an array of them: ' + SIGNER)
})

t.test('option values @fastify/session accepts that are refused here', async (t) => {
  refused(t, { secret: S32, algorithm: 'sha512' }, '`algorithm` is invalid: expected "sha256" or nothing: cookies are signed with HMAC-SHA256')
  refused(t, { secret: S32, cookie: { maxAge: 42 } }, '`cookie.maxAge` is invalid: expected a duration from 1s to 36500d')
  refused(t, { secret: S32, cookie: { secure: 'true' } }, '`cookie.secure` is invalid: expected true, false or "auto"')
  refused(t, { secret: S32, cookie: { secure: 'auto', sameSite: 'none' } }, '`cookie.sameSite` is invalid: expected "lax" or "strict" unless cookie.secure is true')
})

t.test('session ids: 10,000 drawn, no two alike, each 51 base64url characters', async (t) => {
  const ids = new Set<string>()
  for (let i = 0; i < 10_000; i++) ids.add(newId())
  t.equal(ids.size, 10_000)
  t.ok([...ids].every((id) => /^[A-Za-z0-9_-]{51}$/.test(id)))
})
