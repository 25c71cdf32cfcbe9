import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { adminFor, redisFor } from '../helpers/index.js'
import { build, cookieOf, roundTrips, sessionKeys, setCookies, storedFields } from './setup.js'
import { changeGated, fragmentOf, type Between } from './gated-routes.js'

// The session's stored text is an open JSON object that writes append to (see
// plugins/session/src/log.ts): these tests drive the append, its proof that nobody else wrote, the
// merge it falls back to in the same call, and compaction, against the text in Redis.

/** Routes that let a test act on Redis between a request's read and its write. */
function gated (between: Between) {
  return (app: FastifyInstance): void => {
    app.post('/set-gated', async (request) => {
      for (const [key, value] of Object.entries(request.body as Record<string, unknown>)) request.session.set(key, value)
      await between.run()
      return { ok: true }
    })
    changeGated(app, between)
    app.post('/save-then-set', async (request) => {
      const { first, second } = request.body as { first: number, second: number }
      request.session.set('first', first)
      await between.run()
      await request.session.save()
      request.session.set('second', second)
      return { ok: true }
    })
    app.post('/save-then-remove', async (request) => {
      const { set, remove } = request.body as { set: Record<string, unknown>, remove: string[] }
      for (const [key, value] of Object.entries(set)) request.session.set(key, value)
      await request.session.save()
      for (const key of remove) request.session.delete(key)
      return { ok: true }
    })
    app.post('/save-then-list', async (request) => {
      request.session.set('n', 2)
      request.session.delete('keep')
      await request.session.save()
      return request.session.data()
    })
    app.post('/remove/:key', async (request) => {
      request.session.delete((request.params as { key: string }).key)
      return { ok: true }
    })
  }
}

t.test('the append-only session text', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const between = { run: async (): Promise<void> => {} }
  t.afterEach(() => { between.run = async () => {} })
  const app = await build(t, { redis: server.url }, {}, gated(between))
  const text = async (): Promise<string> => {
    const [key] = await sessionKeys(server)
    return await admin.get(key as string) as string
  }

  t.test('a change is appended, padded to a 64-byte block; the last value and removals read through', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1, keep: 'k' } })) as string
    const created = await text()
    t.notOk(created.endsWith('}'), 'left open for appends')
    t.not(Buffer.byteLength(created) % 64, 0, 'no session is a whole number of blocks long (records are)')
    const modified = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: 2 } }))
    t.same(modified.commands, { getex: 1, append: 1, pexpire: 1 }, 'one plain APPEND, with a PEXPIRE behind it in the same write (see no-expiry-key.test.ts), no script')
    t.equal(modified.trips, 2)
    const appended = await text()
    t.equal(appended, created + ',"d:n":"2"' + ' '.repeat(64 - 10), 'exactly the changed field, padded')
    t.equal((await app.inject({ method: 'POST', url: '/remove/keep', headers: { cookie } })).statusCode, 200)
    t.equal(await text(), appended + ',"d:keep":null' + ' '.repeat(64 - 14), 'a removal is a null')
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 2 })
    const { 'd:keep': removed, ...rest } = storedFields(created)
    t.equal(removed, '"k"')
    t.same(storedFields(await text()), { ...rest, 'd:n': '2' })
  })

  t.test('a change that fills whole blocks takes no padding', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const before = await text()
    // `,"d:s":` (7 bytes) and the value's JSON as a JSON string, `"\"x...x\""` (51 + 6 bytes).
    t.equal((await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { s: 'x'.repeat(51) } })).statusCode, 200)
    t.equal(await text(), before + ',"d:s":' + JSON.stringify(JSON.stringify('x'.repeat(51))))
    t.equal(Buffer.byteLength(await text()) - Buffer.byteLength(before), 64)
  })

  t.test('a user id that changes type but names the same user appends its metadata; only data counts against maxBytes', async (t) => {
    await admin.flushall()
    const tight = await build(t, { redis: server.url, maxBytes: 120 })
    const anon = cookieOf(await tight.inject({ method: 'POST', url: '/set', payload: { u: 'x'.repeat(100) } })) as string
    const cookie = cookieOf(await tight.inject({ method: 'POST', url: '/login', headers: { cookie: anon }, payload: { userId: 7, keep: ['u'] } })) as string
    // The number 7 and the string '7' are different values but the same user (ids are indexed as text).
    const again = await roundTrips(server, async () => await tight.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { userId: '7' } }))
    t.equal(again.result.statusCode, 200)
    t.equal(again.commands['append'], 1, 'appended: the user index is unchanged')
    t.equal(again.commands['get'], undefined, 'no merge: `m:u` is not taken for the data key `u`')
    t.same((await tight.inject({ url: '/data', headers: { cookie } })).json(), { u: 'x'.repeat(100), userId: '7' })
  })

  t.test('a session stored closed by an earlier version is rewritten open by its next write, never appended to', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1, keep: 'k' } })) as string
    const [key] = await sessionKeys(server)
    await admin.set(key as string, JSON.stringify(storedFields(await text())), 'KEEPTTL')
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 1, keep: 'k' }, 'read as it is')
    const modified = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: 2 } }))
    // The merging script's first call on this connection may send it whole (EVAL).
    const { eval: whole = 0, evalsha = 0, ...inside } = modified.commands
    t.equal(whole + evalsha, 1, 'one script')
    t.same(inside, { getex: 1, get: 1, time: 1, set: 1 }, 'rewritten, not appended')
    t.notOk((await text()).endsWith('}'))
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 2, keep: 'k' })
    await admin.set(key as string, JSON.stringify(storedFields(await text())), 'KEEPTTL')
    const login = await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { userId: 'old' } })
    t.equal(login.statusCode, 200)
    t.notOk((await text()).endsWith('}'), 'a login (which merges and appends) rewrites it too')
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 2, keep: 'k', userId: 'old' })
  })

  t.test('values listed after a save in the same request are what the save wrote', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1, keep: 'k', other: 'o' } })) as string
    t.same((await app.inject({ method: 'POST', url: '/save-then-list', headers: { cookie } })).json(), { n: 2, other: 'o' })
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 2, other: 'o' })
  })

  t.test('two saves in one request both append', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const both = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/save-then-set', headers: { cookie }, payload: { first: 1, second: 2 } }))
    t.same(both.commands, { getex: 1, append: 2, pexpire: 2 })
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 1, first: 1, second: 2 })
  })

  t.test('when another writer got there first, the APPEND lands after theirs: both changes stay, no script', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const [key] = await sessionKeys(server)
    const theirs = fragmentOf({ 'd:other': '"theirs"', 'd:n': '7' })
    between.run = async () => { await admin.append(key as string, theirs) }
    const read = await text()
    const raced = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/set-gated', headers: { cookie }, payload: { n: 2 } }))
    t.equal(raced.result.statusCode, 200)
    t.same(raced.commands, { getex: 1, append: 2, pexpire: 1 }, 'the other writer\'s APPEND, then ours')
    t.equal(raced.trips, 3, 'the read, their APPEND and ours')
    t.equal(await text(), read + theirs + fragmentOf({ 'd:n': '2' }), 'ours after theirs')
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 2, other: 'theirs' }, 'the last value of each field wins, as a merge would have it')
  })

  t.test('a race on a text longer than maxBytes: CHECK keeps a write that leaves the data within it', async (t) => {
    const small = await build(t, { redis: server.url, maxBytes: 200 }, {}, gated(between))
    await admin.flushall()
    const cookie = cookieOf(await small.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const [key] = await sessionKeys(server)
    between.run = async () => { await admin.append(key as string, fragmentOf({ 'd:other': '"theirs"' })) }
    const raced = await roundTrips(server, async () => await small.inject({ method: 'POST', url: '/set-gated', headers: { cookie }, payload: { n: 2 } }))
    t.equal(raced.result.statusCode, 200)
    t.ok(Buffer.byteLength(await text()) > 200, 'the text is longer than maxBytes, its data is not')
    t.equal(raced.commands['evalsha'] ?? raced.commands['eval'], 1, 'one CHECK')
    t.equal(raced.trips, 4, 'the read, their APPEND, ours, and the CHECK')
    t.same((await small.inject({ url: '/data', headers: { cookie } })).json(), { n: 2, other: 'theirs' })
  })

  t.test('a race that takes the data past maxBytes: the write that grew it is put back and refused with a 413', async (t) => {
    const small = await build(t, { redis: server.url, maxBytes: 200 }, {}, gated(between))
    await admin.flushall()
    const cookie = cookieOf(await small.inject({ method: 'POST', url: '/set', payload: { n: 1, keep: 'k' } })) as string
    const [key] = await sessionKeys(server)
    between.run = async () => { await admin.append(key as string, fragmentOf({ 'd:other': JSON.stringify('t'.repeat(100)) })) }
    // Alone it fits: 13 bytes of data, plus 107 for `big`, less 9 for `keep`. After the other writer's 109, it does not.
    const res = await small.inject({ method: 'POST', url: '/change-gated', headers: { cookie }, payload: { set: { big: 'b'.repeat(100) }, remove: ['keep'] } })
    t.equal(res.statusCode, 413)
    t.equal(res.json().code, 'SCALEOUT_ERR_SESSION_TOO_LARGE')
    const fields = storedFields(await text())
    t.equal(fields['d:big'], undefined, 'its new key is gone again')
    t.equal(fields['d:keep'], '"k"', 'its removal is undone')
    t.equal(fields['d:other'], JSON.stringify('t'.repeat(100)), 'the other writer\'s change stays')
    t.same((await small.inject({ url: '/data', headers: { cookie } })).json(), { n: 1, keep: 'k', other: 't'.repeat(100) })
  })

  t.test('a race past maxBytes by a write that shrank the data: it stands (a session over a lowered maxBytes can still shrink)', async (t) => {
    const small = await build(t, { redis: server.url, maxBytes: 200 }, {}, gated(between))
    await admin.flushall()
    const cookie = cookieOf(await small.inject({ method: 'POST', url: '/set', payload: { keep: 'k'.repeat(50) } })) as string
    const [key] = await sessionKeys(server)
    // The other writer alone takes the data past maxBytes (209 bytes).
    between.run = async () => { await admin.append(key as string, fragmentOf({ 'd:other': JSON.stringify('t'.repeat(200)) })) }
    const res = await small.inject({ method: 'POST', url: '/change-gated', headers: { cookie }, payload: { set: {}, remove: ['keep'] } })
    t.equal(res.statusCode, 200)
    t.equal(storedFields(await text())['d:keep'], undefined)
    t.same((await small.inject({ url: '/data', headers: { cookie } })).json(), { other: 't'.repeat(200) })
  })

  t.test('after a race the request no longer knows the length: its next save rewrites the text compacted', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const [key] = await sessionKeys(server)
    between.run = async () => { await admin.append(key as string, fragmentOf({ 'd:n': '5' })) }
    const residue = Buffer.byteLength(await text()) % 64
    t.equal((await app.inject({ method: 'POST', url: '/save-then-set', headers: { cookie }, payload: { first: 1, second: 2 } })).statusCode, 200)
    const rewritten = await text()
    t.same(Object.keys(JSON.parse(rewritten + '}') as object).sort(), ['d:first', 'd:n', 'd:second', 'm:c', 'm:d', 'm:ip', 'm:ua'], 'one field each: compacted')
    t.equal(Buffer.byteLength(rewritten) % 64, residue % 63 + 1, 'a rewrite moves the length to the next residue')
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 5, first: 1, second: 2 })
  })

  t.test('a session destroyed while the request ran: the APPEND\'s key is removed again, the cookie cleared', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const [key] = await sessionKeys(server)
    between.run = async () => { await app.inject({ method: 'POST', url: '/logout', headers: { cookie } }) }
    const { result: res, trips } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/set-gated', headers: { cookie }, payload: { n: 2 } }))
    t.equal(res.statusCode, 200)
    t.equal(trips, 5, 'the logout\'s read and destroy; ours: the read, the APPEND, and the DEL of the key it made')
    t.match(setCookies(res)[0], /Max-Age=0/, 'the cookie is cleared')
    t.equal(await admin.exists(key as string), 0, 'nothing left behind')
  })

  t.test('a session regenerated while the request ran: the write goes nowhere, the cookie is left alone, the forwarding record still forwards', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const [key] = await sessionKeys(server)
    let next = ''
    between.run = async () => { next = cookieOf(await app.inject({ method: 'POST', url: '/login', headers: { cookie }, payload: { userId: 'u1' } })) as string }
    const res = await app.inject({ method: 'POST', url: '/set-gated', headers: { cookie }, payload: { n: 2 } })
    t.same(setCookies(res), [], 'the write went nowhere, and no Set-Cookie: the browser keeps the login\'s')
    const forward = await admin.get(key as string) as string
    t.equal(Buffer.byteLength(forward), 128, 'the record, and the late APPEND after it')
    t.match(forward.slice(0, 64), /^\{"m:n":"[^"]+" *\}$/, 'its first block is the record as it was')
    t.same((await app.inject({ url: '/data', headers: { cookie: next } })).json(), { userId: 'u1' }, 'the new session has none of the late change')
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), {}, 'the old cookie reads no session')
    t.equal((await app.sessions.listFor('u1')).length, 1)
    t.equal(await app.sessions.destroyAllFor('u1'), 1, 'destroyAllFor still follows the record to the new session')
    t.same((await app.inject({ url: '/data', headers: { cookie: next } })).json(), {})
  })

  t.test('a session past its deadline when the request writes: nothing is appended', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const [key] = await sessionKeys(server)
    const fields = storedFields(await text())
    const soon = JSON.stringify({ ...fields, 'm:d': String(Date.now() + 200) }).slice(0, -1)
    await admin.set(key as string, soon, 'KEEPTTL')
    between.run = async () => { await new Promise((resolve) => setTimeout(resolve, 400)) }
    const res = await app.inject({ method: 'POST', url: '/set-gated', headers: { cookie }, payload: { n: 2 } })
    t.match(setCookies(res)[0], /Max-Age=0/)
    t.equal(await admin.get(key as string), soon, 'unchanged')
  })

  /** A session whose text is one append short of compaction: its cookie and key. */
  const dueForCompaction = async (): Promise<{ cookie: string, key: string, start: number, writes: Array<Record<string, number>> }> => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 0, gone: 'x' } })) as string
    const [key] = await sessionKeys(server)
    // A removed key (a null in the text) that the compaction drops.
    if ((await app.inject({ method: 'POST', url: '/remove/gone', headers: { cookie } })).statusCode !== 200) throw new Error('the removal failed')
    const start = Buffer.byteLength(await text())
    const writes: Array<Record<string, number>> = []
    // Each change appends one block; the data stays 7 bytes (`d:n` and one digit).
    for (let i = 1; start + 64 * (i - 1) <= 7 * 1.25 + 1024; i++) {
      writes.push((await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: i % 10 } }))).commands)
    }
    return { cookie, key: key as string, start, writes }
  }

  t.test('the text is rewritten compacted once it passes 1.25 times the data plus 1 KiB: one SET, nothing decoded', async (t) => {
    const { cookie, start, writes } = await dueForCompaction()
    t.ok(writes.every((c) => c['append'] === 1 && c['set'] === undefined), `${writes.length} appends first`)
    const long = Buffer.byteLength(await text())
    t.ok(long > 7 * 1.25 + 1024)
    const rewrite = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/change-gated', headers: { cookie }, payload: { set: { m: 9 }, remove: ['n'] } }))
    const { eval: sent, evalsha: known, ...inside } = rewrite.commands
    t.equal((sent ?? 0) + (known ?? 0), 1, 'one script')
    t.same(inside, { getex: 1, strlen: 1, set: 1 }, 'the next one rewrites: the length checked, the text set')
    t.equal(rewrite.trips, 2)
    const compacted = await text()
    t.ok(Buffer.byteLength(compacted) < start + 64, 'back to its size')
    t.equal(Buffer.byteLength(compacted) % 64, (long % 64) % 63 + 1, 'a rewrite moves the length to the next residue')
    t.same(Object.keys(JSON.parse(compacted + '}') as object).sort(), ['d:m', 'm:c', 'm:d', 'm:ip', 'm:ua'], 'one field each, removed keys gone')
    t.notOk(compacted.endsWith('}'), 'left open')
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { m: 9 })
    t.equal((await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: 3 } })).statusCode, 200)
    t.equal(await text(), compacted + fragmentOf({ 'd:n': '3' }), 'and takes appends again')
  })

  t.test('a compaction due after the request wrote already merges in a script: what it wrote is not all in the fields it read', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 0, big: 'b'.repeat(200) } })) as string
    // Data: `d:n` and a digit (4 bytes), `d:big` and its JSON (207): compaction past 1.25 x 211 + 1024.
    const due = 211 * 1.25 + 1024
    for (let i = 0; Buffer.byteLength(await text()) + 64 <= due; i++) {
      await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: i % 2 + 1 } })
    }
    // One block short: the first save appends, and the second, which drops `big`, finds the text due.
    const both = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/save-then-remove', headers: { cookie }, payload: { set: { first: 1 }, remove: ['big'] } }))
    t.equal(both.result.statusCode, 200)
    const { eval: sent, evalsha: known, ...rest } = both.commands
    t.equal((sent ?? 0) + (known ?? 0), 1, 'one script')
    t.same(rest, { getex: 1, append: 1, pexpire: 1, get: 1, time: 1, set: 1 }, 'the first save appends; the second merges (GET, decode) and rewrites')
    const compacted = await text()
    t.same(Object.keys(JSON.parse(compacted + '}') as object).sort(), ['d:first', 'd:n', 'm:c', 'm:d', 'm:ip', 'm:ua'])
    t.match((await app.inject({ url: '/data', headers: { cookie } })).json(), { first: 1 })
    t.equal((await app.inject({ url: '/get/big', headers: { cookie } })).json().value, null)
  })

  t.test('a compaction that another writer got ahead of appends instead: both changes stay', async (t) => {
    const { cookie, key } = await dueForCompaction()
    const read = await text()
    const theirs = fragmentOf({ 'd:other': '"theirs"' })
    between.run = async () => { await admin.append(key, theirs) }
    const raced = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/set-gated', headers: { cookie }, payload: { n: 42 } }))
    t.equal(raced.result.statusCode, 200)
    t.equal(raced.commands['set'], undefined, 'no rewrite')
    t.equal(await text(), read + theirs + fragmentOf({ 'd:n': '42' }))
    between.run = async () => {}
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 42, other: 'theirs' })
  })

  t.test('a compaction that finds the session destroyed or regenerated writes nothing; only the destroyed one clears the cookie', async (t) => {
    const destroyed = await dueForCompaction()
    between.run = async () => { await app.inject({ method: 'POST', url: '/logout', headers: { cookie: destroyed.cookie } }) }
    const res = await app.inject({ method: 'POST', url: '/set-gated', headers: { cookie: destroyed.cookie }, payload: { n: 42 } })
    t.match(setCookies(res)[0], /Max-Age=0/, 'the cookie is cleared')
    t.equal(await admin.exists(destroyed.key), 0, 'no key made')

    const regenerated = await dueForCompaction()
    between.run = async () => { await app.inject({ method: 'POST', url: '/login', headers: { cookie: regenerated.cookie }, payload: { userId: 'u1' } }) }
    const late = await app.inject({ method: 'POST', url: '/set-gated', headers: { cookie: regenerated.cookie }, payload: { n: 42 } })
    t.same(setCookies(late), [], 'no Set-Cookie: clearing it would delete the id the login gave the browser')
    t.match(await admin.get(regenerated.key), /^\{"m:n":"[^"]+" *\}$/, 'the forwarding record as it was')
  })

  t.test('a forged record or text that is not ours reads as no session and takes no append', async (t) => {
    await admin.flushall()
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const [key] = await sessionKeys(server)
    await admin.set(key as string, ',"d:n":"7"', 'KEEPTTL')
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), {})
    t.equal(await admin.get(key as string), ',"d:n":"7"')
    // Two blocks, like the fragments a write leaves when it finds the key gone, but no record first.
    const blocks = fragmentOf({ 'd:n': '7' }) + fragmentOf({ 'd:m': '8' })
    await admin.set(key as string, blocks, 'KEEPTTL')
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), {})
    t.equal(await admin.get(key as string), blocks)
  })
})
