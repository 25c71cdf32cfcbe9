import t from 'tap'
import { adminFor, redisFor } from '../helpers/index.js'
import { build, cookieOf, sessionKeys, storedFields } from './setup.js'
import { changeGated, fragmentOf, type Between } from './gated-routes.js'

// The stored text only grows between compactions (see plugins/session/src/log.ts). A write
// compacts it when it finds it due, but only while nobody wrote since it read it; a write that
// raced another, and a login (a merging script), appended to it all the same. So a client that
// keeps two requests overlapping on its session (each one's write lands after the other's), or a
// route that switches the user id back and forth, grew its session's text in Redis without
// bound, 64 bytes and more per request, while its data stayed a few bytes: Redis memory, and every
// read's GETEX and parse, that maxBytes was meant to bound.

/** Bytes of the data fields (`d:<key>` and value) of a stored text. */
function dataBytes (text: string): number {
  return Object.entries(storedFields(text)).filter(([f]) => f.startsWith('d:')).reduce((n, [f, v]) => n + Buffer.byteLength(f) + Buffer.byteLength(v), 0)
}

/** Past this, a write that finds the text compacts it (log.ts needsCompaction). */
const due = (data: number): number => data * 1.25 + 1024

t.test('the stored text stays bounded', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const between: Between = { run: async () => {} }
  const app = await build(t, { redis: server.url, maxBytes: 200 }, {}, (app) => { changeGated(app, between) })
  const text = async (key: string): Promise<string> => await admin.get(key) as string

  t.test('writes that each race another still compact the text: it never grows past what the data and maxBytes allow', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 0 } })) as string
    const [key] = await sessionKeys(server) as [string]
    let longest = 0
    let limit = 0
    for (let i = 1; i <= 40; i++) {
      // Another request's write lands between this one's read and its write, every time.
      between.run = async () => { await admin.append(key, fragmentOf({ 'd:other': String(i % 10) })) }
      const res = await app.inject({ method: 'POST', url: '/change-gated', headers: { cookie }, payload: { set: { n: i % 10 }, remove: [] } })
      t.equal(res.statusCode, 200)
      const now = await text(key)
      longest = Math.max(longest, Buffer.byteLength(now))
      // The data is `d:n`, `d:other` and a digit each; two blocks land per round.
      limit = Math.max(limit, due(dataBytes(now)) + 128)
    }
    t.ok(longest <= limit, `the text stayed within ${limit} bytes (longest ${longest})`)
    const last = await text(key)
    t.notOk(last.endsWith('}'), 'left open')
    t.not(Buffer.byteLength(last) % 64, 0, 'a session, never a whole number of blocks')
    between.run = async () => {}
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 0, other: 0 }, 'every change kept, the last of each winning')
    t.ok(await admin.pttl(key) > 0, 'it still expires')
  })

  t.test('a racing write put back for passing maxBytes on a text due for compaction: compacted with its fields put back', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1, keep: 'k' } })) as string
    const [key] = await sessionKeys(server) as [string]
    // Other writers have taken the text past due(), and one of them the data near maxBytes.
    const filler = fragmentOf({ 'd:n': '1' }).repeat(20)
    between.run = async () => { await admin.append(key, filler + fragmentOf({ 'd:other': JSON.stringify('t'.repeat(100)) })) }
    const residue = Buffer.byteLength(await text(key)) % 64
    const res = await app.inject({ method: 'POST', url: '/change-gated', headers: { cookie }, payload: { set: { big: 'b'.repeat(100) }, remove: ['keep'] } })
    t.equal(res.statusCode, 413)
    t.equal(res.json().code, 'SCALEOUT_ERR_SESSION_TOO_LARGE')
    const rewritten = await text(key)
    t.same(Object.keys(JSON.parse(rewritten + '}') as object).sort(), ['d:keep', 'd:n', 'd:other', 'm:c', 'm:d', 'm:ip', 'm:ua'], 'compacted: one field each, the write\'s new key gone, its removal undone')
    t.equal(Buffer.byteLength(rewritten) % 64, residue % 63 + 1, 'a rewrite moves the length to the next residue')
    t.ok(Buffer.byteLength(rewritten) < 512)
    between.run = async () => {}
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 1, keep: 'k', other: 't'.repeat(100) })
    t.ok(await admin.pttl(key) > 0, 'it still expires')
  })

  t.test('a racing write that stands on a text due for compaction: compacted with its change', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1, keep: 'k' } })) as string
    const [key] = await sessionKeys(server) as [string]
    between.run = async () => { await admin.append(key, fragmentOf({ 'd:n': '1' }).repeat(20) + fragmentOf({ 'd:other': '"theirs"' })) }
    const res = await app.inject({ method: 'POST', url: '/change-gated', headers: { cookie }, payload: { set: { n: 2 }, remove: ['keep'] } })
    t.equal(res.statusCode, 200)
    const rewritten = await text(key)
    t.same(Object.keys(JSON.parse(rewritten + '}') as object).sort(), ['d:n', 'd:other', 'm:c', 'm:d', 'm:ip', 'm:ua'], 'compacted: one field each')
    between.run = async () => {}
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 2, other: 'theirs' })
  })

  t.test('a user id switched back and forth (each a login, merged in a script) compacts the text when due', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { userId: 'a' } })) as string
    const [key] = await sessionKeys(server) as [string]
    let longest = 0
    let limit = 0
    for (let i = 1; i <= 40; i++) {
      t.equal((await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { userId: i % 2 === 0 ? 'a' : 'b' } })).statusCode, 200)
      const now = await text(key)
      longest = Math.max(longest, Buffer.byteLength(now))
      limit = Math.max(limit, due(dataBytes(now)) + 64)
    }
    t.ok(longest <= limit, `the text stayed within ${limit} bytes (longest ${longest})`)
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { userId: 'a' })
    t.equal(storedFields(await text(key))['m:u'], 'a')
    t.ok(await admin.pttl(key) > 0, 'it still expires')
  })
})
