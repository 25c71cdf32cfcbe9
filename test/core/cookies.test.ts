import t from 'tap'
import { checkCookieAttributes, checkCookieName, readCookie, readCookies, setCookie } from '../../lib/src/index.js'

t.test('readCookies: every cookie of the name, in header order, up to max, parsed as readCookie parses one', async (t) => {
  t.same(readCookies('tok=old; a=1; tok="new"', 'tok', 4), ['old', 'new'])
  t.same(readCookies('tok=1; tok=2; tok=3', 'tok', 2), ['1', '2'], 'at most max')
  t.same(readCookies('a=x tok=planted; xtok=1; tok=real', 'tok', 4), ['real'], 'a space inside another value, or a longer name, is not ours')
  t.same(readCookies('a=1', 'tok', 4), [], 'none of the name')
  t.same(readCookies(undefined, 'tok', 4), [])
})

t.test('a cookie is found only under its exact name', async (t) => {
  t.equal(readCookie('sessionId=abc', 'sessionId'), 'abc')
  t.equal(readCookie('a=1; sessionId=abc; b=2', 'sessionId'), 'abc')
  t.equal(readCookie('a=1;\tsessionId= abc ', 'sessionId'), 'abc')
  t.equal(readCookie('a=1;sessionId="abc"', 'sessionId'), 'abc', 'quoted values are unquoted')
  t.equal(readCookie('xsessionId=evil; sessionId=good', 'sessionId'), 'good', 'a longer name ending in ours is not ours')
  t.equal(readCookie('__Host-sessionId=prefixed', 'sessionId'), undefined)
  t.equal(readCookie('sessionId=first; sessionId=second', 'sessionId'), 'first')
  t.equal(readCookie('other=1', 'sessionId'), undefined)
  t.equal(readCookie(undefined, 'sessionId'), undefined)
  t.equal(readCookie('', 'sessionId'), undefined)
  t.equal(readCookie('sessionId="', 'sessionId'), '"')
  t.equal(readCookie('sessionId=%41', 'sessionId'), '%41', 'values are compared as sent, never URI-decoded')
})

t.test('a space inside another cookie\'s value never starts ours', async (t) => {
  // A sibling subdomain can plant the first cookie; the attacker's id sits inside its value.
  t.equal(readCookie('foo=x __Host-sessionId=attacker; __Host-sessionId=victim', '__Host-sessionId'), 'victim')
  t.equal(readCookie('a=x sessionId=junk; sessionId=valid', 'sessionId'), 'valid')
  t.equal(readCookie('a=x\tsessionId=junk; sessionId=valid', 'sessionId'), 'valid')
})

t.test('a long Cookie header is still read', async (t) => {
  t.equal(readCookie('pad=' + 'x'.repeat(20_000) + '; sessionId=abc', 'sessionId'), 'abc')
})

t.test('cookie names and attributes are checked', async (t) => {
  t.equal(checkCookieName('p', 'cookieName', 'sid'), 'sid')
  t.equal(checkCookieName('p', 'cookieName', '__Host-sid'), '__Host-sid')
  t.throws(() => checkCookieName('p', 'cookieName', '__Host-sid', true), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /without a __Host- or __Secure- prefix/ })
  t.throws(() => checkCookieName('p', 'cookieName', 'a b'), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `cookieName` is invalid/ })
  t.same(checkCookieAttributes('p', 'cookie', {}), { path: '/', domain: undefined, secure: 'auto', sameSite: 'lax', httpOnly: true, partitioned: false })
  t.same(checkCookieAttributes('p', 'cookie', { sameSite: 'Strict', secure: true, path: '/app', domain: 'example.com', httpOnly: false, partitioned: true }),
    { path: '/app', domain: 'example.com', secure: true, sameSite: 'strict', httpOnly: false, partitioned: true })
  const bad: Array<[Record<string, unknown>, string]> = [
    [{ path: 'app' }, 'cookie.path'],
    [{ path: '/a;b' }, 'cookie.path'],
    [{ domain: 'exa mple.com' }, 'cookie.domain'],
    [{ secure: 'yes' }, 'cookie.secure'],
    [{ sameSite: 'sometimes' }, 'cookie.sameSite'],
    [{ sameSite: 'none' }, 'cookie.sameSite'],
    [{ httpOnly: 1 }, 'cookie.httpOnly'],
    [{ partitioned: 'no' }, 'cookie.partitioned']
  ]
  for (const [given, option] of bad) {
    t.throws(() => checkCookieAttributes('p', 'cookie', given), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: new RegExp(`option \`${option}\` is invalid`) }, option)
  }
})

t.test('Set-Cookie carries or clears the value with every attribute', async (t) => {
  t.capture(Date, 'now', () => 1_700_000_000_000)
  const attributes = checkCookieAttributes('p', 'cookie', { domain: 'example.com', partitioned: true })
  t.equal(setCookie('sid', 'v.1', attributes, true, 60),
    `sid=v.1; Max-Age=60; Domain=example.com; Path=/; Expires=${new Date(1_700_000_060_000).toUTCString()}; HttpOnly; Secure; Partitioned; SameSite=Lax`)
  t.equal(setCookie('sid', 'v', attributes, false),
    'sid=v; Domain=example.com; Path=/; HttpOnly; Partitioned; SameSite=Lax')
  t.equal(setCookie('sid', null, attributes, true, 60),
    'sid=; Max-Age=0; Domain=example.com; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; Partitioned; SameSite=Lax')
})
