import t from 'tap'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { adminFor, redisFor } from '../helpers/index.js'
import { build, cookieOf, valueOf } from './setup.js'

// listFor() handed the application the `m:ip` and `m:ua` fields of a stored session as they were,
// typed as strings: a session planted or corrupted in Redis (anyone who can write to it, a bug of
// another program under the prefix) gave objects, numbers or megabytes of text to code that
// renders them (an account's "your devices" page). They are now what the README's types say: the
// address the session was created from and at most 512 characters of its User-Agent, or '' when
// the stored value is not such; and createdAt and lastSeenAt are always valid dates.

const keyOf = (cookie: string): string => {
  const id = valueOf(cookie).split('.')[0] as string
  return `scaleout:sess:{${id.slice(0, 8)}}:${id.slice(8)}`
}

/** Raw fields appended as a write would, padded to 64 bytes (values are JSON, not only strings). */
function rawFragment (fields: Record<string, unknown>): string {
  const text = Object.entries(fields).map(([k, v]) => ',' + JSON.stringify(k) + ':' + JSON.stringify(v)).join('')
  return text + ' '.repeat((64 - Buffer.byteLength(text) % 64) % 64)
}

t.test('listFor: stored ip and userAgent that are not what the plugin writes read as \'\'; dates stay valid', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const app = await build(t, { redis: server.url })
  const cases: Array<[string, Record<string, unknown>, { ip: string, userAgent: string }]> = [
    ['as written', {}, { ip: '127.0.0.1', userAgent: 'agent' }],
    ['objects', { 'm:ip': { toString: 'x' }, 'm:ua': { a: 1 } }, { ip: '', userAgent: '' }],
    ['numbers', { 'm:ip': 2130706433, 'm:ua': 7 }, { ip: '', userAgent: '' }],
    ['arrays and booleans', { 'm:ip': ['127.0.0.1'], 'm:ua': true }, { ip: '', userAgent: '' }],
    ['a string that is no address', { 'm:ip': '<script>alert(1)</script>' }, { ip: '', userAgent: 'agent' }],
    ['huge strings', { 'm:ip': '1'.repeat(100_000), 'm:ua': 'a'.repeat(100_000) }, { ip: '', userAgent: '' }],
    ['an address too long to be one the plugin wrote', { 'm:ip': 'fe80::1%' + 'e'.repeat(100) }, { ip: '', userAgent: 'agent' }],
    ['a 512-character agent and an IPv6 address', { 'm:ip': '::ffff:10.0.0.1', 'm:ua': 'u'.repeat(512) }, { ip: '::ffff:10.0.0.1', userAgent: 'u'.repeat(512) }],
    ['missing', { 'm:ip': null, 'm:ua': null }, { ip: '', userAgent: '' }]
  ]
  for (const [name, fields, expected] of cases) {
    const user = `planted-${name}`
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', headers: { 'user-agent': 'agent' }, payload: { userId: user } })) as string
    if (Object.keys(fields).length > 0) await admin.append(keyOf(cookie), rawFragment(fields))
    const list = await app.sessions.listFor(user)
    t.equal(list.length, 1, name)
    t.same({ ip: list[0]?.ip, userAgent: list[0]?.userAgent }, expected, name)
  }
})

t.test('listFor: a stored creation time that is not a time reads as the last use; the session is still listed and ended', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const app = await build(t, { redis: server.url })
  for (const created of ['soon', { n: 1 }, '9e15', null]) {
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'dates' } })) as string
    await admin.append(keyOf(cookie), rawFragment({ 'm:c': created }))
    const [info] = await app.sessions.listFor('dates')
    t.ok(info !== undefined && Number.isFinite(info.createdAt.getTime()) && Number.isFinite(info.lastSeenAt.getTime()), `m:c ${JSON.stringify(created)}: valid dates`)
    t.equal(info?.createdAt.getTime(), info?.lastSeenAt.getTime())
    t.ok(Math.abs((info?.lastSeenAt.getTime() ?? 0) - Date.now()) < 60_000, 'the last use: now, give or take')
    t.equal(await app.sessions.destroyAllFor('dates'), 1)
  }
})

t.test('a session created over a Unix socket (no address) records \'\' as its ip', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url })
  const path = join(tmpdir(), `scaleout-session-${process.pid}-${Date.now()}.sock`)
  await app.listen({ path })
  const login = await new Promise<{ status: number, cookie: string }>((resolve, reject) => {
    const req = request({ socketPath: path, method: 'POST', path: '/login', headers: { 'content-type': 'application/json', 'user-agent': 'over a socket' } }, (res) => {
      res.resume()
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, cookie: String(res.headers['set-cookie']?.[0] ?? '').split(';')[0] as string }) })
    })
    req.on('error', reject)
    req.end(JSON.stringify({ userId: 'socket' }))
  })
  t.equal(login.status, 200)
  t.match(login.cookie, /^sessionId=/)
  t.same((await app.sessions.listFor('socket')).map((s) => [s.ip, s.userAgent]), [['', 'over a socket']])
  t.same((await app.inject({ url: '/get/userId', headers: { cookie: login.cookie } })).json(), { value: 'socket' })
})
