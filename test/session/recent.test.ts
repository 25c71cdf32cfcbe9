import t from 'tap'
import { RecentSessions } from '../../plugins/session/src/recent.js'
import { fieldOf, fieldsOf, StoredValues } from '../../plugins/session/src/stored.js'
import { redisFor } from '../helpers/index.js'
import { build, cookieOf, sessionKeys } from './setup.js'

// An instance keeps the texts of sessions it read, parsed, and on the next read of a session parses
// only what was appended to it since (see plugins/session/src/recent.ts). These tests check that
// what it hands back is always what parsing Redis's text whole gives, whatever happened to the
// text in between, on this instance or another.

const OPEN = '{"m:c":"1","m:d":"9999999999999","d:a":"1","d:b":"\\"two\\""'
const pad = (text: string): string => text + ' '.repeat((64 - Buffer.byteLength(text) % 64) % 64)
const FRAGMENT = pad(',"d:a":"2","d:c":"3"')

/** What the fields read as, each once, in a plain object. */
function fields (stored: ReturnType<RecentSessions['read']>): Record<string, unknown> {
  if (stored === null) throw new Error('no session')
  return Object.fromEntries(fieldsOf(stored))
}

t.test('a text read again is the same stored session, parsed once', async (t) => {
  const recent = new RecentSessions()
  const first = recent.read('s1', OPEN)
  t.equal(recent.read('s1', OPEN.slice(0)), first, 'the very same object')
  t.same(fields(first), { 'm:c': '1', 'm:d': '9999999999999', 'd:a': '1', 'd:b': '"two"' })
})

t.test('a text appended to is read as the whole text, its first part parsed before', async (t) => {
  const recent = new RecentSessions()
  const first = recent.read('s1', OPEN)
  const second = recent.read('s1', OPEN + FRAGMENT)
  if (first === null || second === null) throw new Error('no session')
  t.equal(second.base, first.base, 'the part read before is not parsed again')
  t.same(second.appended, { 'd:a': '2', 'd:c': '3' })
  t.same(fields(second), { 'm:c': '1', 'm:d': '9999999999999', 'd:a': '2', 'd:b': '"two"', 'd:c': '3' })
  // A removal appended (null) wins over the value before it, and over an earlier append.
  const third = recent.read('s1', OPEN + FRAGMENT + pad(',"d:b":null,"d:c":null'))
  t.same(fields(third), { 'm:c': '1', 'm:d': '9999999999999', 'd:a': '2', 'd:b': null, 'd:c': null })
  const values = new StoredValues(third ?? undefined)
  t.equal(values.get('a'), '2')
  t.equal(values.get('b'), undefined)
  t.equal(values.get('c'), undefined)
  t.same([...values.map()], [['a', '2']])
  // d:a and its value: 3 + 1 bytes, the only data left.
  t.equal(values.dataBytes, 4)
  t.equal(values.deadline, 9999999999999)
})

t.test('a text that does not extend the one read before is parsed whole', async (t) => {
  const cases: Array<[string, string, Record<string, unknown> | null]> = [
    // Rewritten (compacted, or merged by a script): the same length would not do either.
    ['rewritten', '{"m:c":"1","m:d":"9999999999999","d:a":"5"', { 'm:c': '1', 'm:d': '9999999999999', 'd:a': '5' }],
    ['rewritten, then appended to', pad('{"m:c":"1","m:d":"9999999999999","d:a":"5"') + FRAGMENT, { 'm:c': '1', 'm:d': '9999999999999', 'd:a': '2', 'd:c': '3' }],
    ['shorter', OPEN.slice(0, 20), null],
    ['replaced by a record', '{"m:n":"other"}', { 'm:n': 'other' }],
    ['the text closed', OPEN + '}', { 'm:c': '1', 'm:d': '9999999999999', 'd:a': '1', 'd:b': '"two"' }],
    ['something not a comma after it', OPEN + ' ,"d:a":"9"', { 'm:c': '1', 'm:d': '9999999999999', 'd:a': '9', 'd:b': '"two"' }],
    ['garbage appended', OPEN + ',"d:a":', null],
    ['gone', '', null]
  ]
  for (const [name, text, expected] of cases) {
    const recent = new RecentSessions()
    recent.read('s1', OPEN)
    const stored = recent.read('s1', name === 'gone' ? null : text)
    t.same(stored === null ? null : fields(stored), expected, name)
    if (stored !== null) t.equal(stored.appended, null, `${name}: parsed whole`)
  }
})

t.test('__proto__ appended is dropped, as in a whole parse', async (t) => {
  const recent = new RecentSessions()
  recent.read('s1', OPEN)
  const stored = recent.read('s1', OPEN + pad(',"__proto__":{"polluted":"yes"},"d:\\u0061":"x"'))
  if (stored === null) throw new Error('no session')
  t.equal(Object.hasOwn(stored.appended ?? {}, '__proto__'), false)
  t.equal(fieldOf(stored, 'd:a'), 'x')
  t.equal(({} as Record<string, unknown>)['polluted'], undefined)
})

t.test('only sessions are kept, within a count and a size', async (t) => {
  const recent = new RecentSessions(2, 3 * OPEN.length)
  recent.read('record', '{"m:n":"other"}')
  t.equal(recent.size, 0, 'a closed text (a record) is not kept')
  recent.read('a', OPEN)
  recent.read('b', OPEN)
  recent.read('c', OPEN)
  t.equal(recent.size, 2, 'the least recently read goes first')
  const b = recent.read('b', OPEN)
  t.not(recent.read('a', OPEN), null)
  t.equal(recent.read('b', OPEN), b, 'b was read more recently than c: kept')
  recent.read('big', OPEN + ' '.repeat(3 * OPEN.length))
  t.equal(recent.size, 2, 'a text over the size bound is never kept')
  const sized = new RecentSessions(10, 3 * OPEN.length)
  for (const id of ['a', 'b', 'c']) sized.read(id, OPEN)
  t.equal(sized.size, 3, 'as many texts as fit')
  sized.read('long', OPEN + ' '.repeat(OPEN.length))
  t.equal(sized.size, 2, 'the least recently read leave until the texts fit')
  t.not(sized.read('c', OPEN), null)
  sized.read('long', null)
  t.equal(sized.size, 1, 'a session read as gone is dropped')
})

t.test('two instances: each reads what the other wrote, through appends, compaction and logout', async (t) => {
  const redis = await redisFor(t)
  const one = await build(t, { redis: redis.url })
  const two = await build(t, { redis: redis.url })
  const login = await one.inject({ method: 'POST', url: '/login', payload: { userId: 'u1' } })
  const cookie = cookieOf(login) as string
  const get = async (app: typeof one, key: string): Promise<unknown> => (await app.inject({ url: `/get/${key}`, headers: { cookie } })).json()
  const set = async (app: typeof one, body: Record<string, unknown>): Promise<number> => (await app.inject({ method: 'POST', url: '/set', payload: body, headers: { cookie } })).statusCode
  t.same(await get(one, 'userId'), { value: 'u1' })
  t.same(await get(two, 'userId'), { value: 'u1' })
  // Enough writes, alternating, to pass compaction several times (a 1 KiB allowance of 64-byte appends).
  for (let i = 1; i <= 60; i++) {
    t.equal(await set(i % 2 === 0 ? one : two, { n: i, [`k${i % 3}`]: 'x'.repeat(i) }), 200)
    t.same(await get(one, 'n'), { value: i }, `instance one reads write ${i}`)
    t.same(await get(two, `k${i % 3}`), { value: 'x'.repeat(i) }, `instance two reads write ${i}`)
  }
  t.same(await get(two, 'k0'), { value: 'x'.repeat(60) })
  t.equal((await one.inject({ method: 'POST', url: '/logout', headers: { cookie } })).statusCode, 200)
  t.same(await sessionKeys(redis), [])
  t.same(await get(two, 'n'), { value: null }, 'the other instance does not serve the destroyed session')
})

t.test('by default, 1,024 sessions and 4 Mi characters of text are kept', async (t) => {
  const recent = new RecentSessions()
  for (let i = 0; i < 1025; i++) recent.read(`s${i}`, OPEN)
  t.equal(recent.size, 1024)
  const big = OPEN + ' '.repeat(1.5 * 1024 * 1024)
  for (const id of ['b1', 'b2', 'b3']) recent.read(id, big)
  // Three texts of 1.5 Mi characters do not fit: the older ones leave, all the small ones and the
  // first big one, until two big ones are left.
  t.equal(recent.size, 2)
})

t.test("this instance's own append is known without parsing it, and only when it landed right behind the text kept", async (t) => {
  const recent = new RecentSessions()
  const first = recent.read('s1', OPEN)
  if (first === null) throw new Error('no session')
  const bytes = Buffer.byteLength(OPEN)
  recent.wrote('s1', first, bytes, FRAGMENT, ['d:a', '2', 'd:c', '3'], [])
  const second = recent.read('s1', OPEN + FRAGMENT)
  if (second === null) throw new Error('no session')
  t.equal(second.base, first.base, 'the text kept is not parsed again')
  t.same(second.appended, { 'd:a': '2', 'd:c': '3' })
  t.equal(second.known, recent.read('s1', OPEN + FRAGMENT)?.known, 'both reads are the same entry, exactly')
  t.equal(recent.read('s1', OPEN + FRAGMENT)?.appended, second.appended, 'the fields written, not parsed from the text: the same object on every read')
  // Another of this instance's appends, behind the text it knows now, then one by another instance.
  const removal = pad(',"d:b":null')
  recent.wrote('s1', second, bytes + FRAGMENT.length, removal, [], ['d:b'])
  t.same(fields(recent.read('s1', OPEN + FRAGMENT + removal)), { 'm:c': '1', 'm:d': '9999999999999', 'd:a': '2', 'd:b': null, 'd:c': '3' })
  const foreign = pad(',"d:c":"4"')
  const third = recent.read('s1', OPEN + FRAGMENT + removal + foreign)
  t.same(fields(third), { 'm:c': '1', 'm:d': '9999999999999', 'd:a': '2', 'd:b': null, 'd:c': '4' }, "the other instance's fields are parsed, on top")
  t.equal(third?.known, null, 'a read that parsed more than the entry knows is not the entry exactly')
  // What Redis returns decides, always: a text that is not what the entry knows is parsed whole.
  const other = pad(',"d:a":"7","d:c":"8"')
  t.equal(other.length, FRAGMENT.length)
  const rewritten = recent.read('s1', OPEN + other + removal)
  t.same(fields(rewritten), { 'm:c': '1', 'm:d': '9999999999999', 'd:a': '7', 'd:b': null, 'd:c': '8' }, 'other fields where the entry knows its own')
  t.equal(rewritten?.appended, null, 'parsed whole')
  t.not(rewritten?.base, first.base)
  recent.read('s1', OPEN)
  recent.wrote('s1', recent.read('s1', OPEN) as NonNullable<typeof first>, bytes, FRAGMENT, ['d:a', '2', 'd:c', '3'], [])
  const lost = recent.read('s1', OPEN)
  t.same(fields(lost), { 'm:c': '1', 'm:d': '9999999999999', 'd:a': '1', 'd:b': '"two"' }, 'the base text alone, without the appends known')
  t.equal(lost?.appended, null)
})

t.test('an append that did not land right behind the text kept changes nothing kept', async (t) => {
  const bytes = Buffer.byteLength(OPEN)
  const Z = pad(',"d:z":"9"')
  type Read = NonNullable<ReturnType<RecentSessions['read']>>
  const cases: Array<[string, (r: RecentSessions, read: Read) => void]> = [
    ['another length expected', (r, read) => { r.wrote('s1', read, bytes + 64, Z, ['d:z', '9'], []) }],
    ['another session', (r, read) => { r.wrote('s2', read, bytes, Z, ['d:z', '9'], []) }],
    ['a read that parsed what another instance appended', (r) => {
      const foreign = r.read('s1', OPEN + FRAGMENT)
      if (foreign === null) throw new Error('no session')
      r.wrote('s1', foreign, bytes + FRAGMENT.length, Z, ['d:z', '9'], [])
      // Read back to the entry's own text: it still knows the text alone.
      t.equal(r.read('s1', OPEN)?.appended, null)
    }]
  ]
  for (const [name, act] of cases) {
    const recent = new RecentSessions()
    const read = recent.read('s1', OPEN)
    if (read === null) throw new Error('no session')
    act(recent, read)
    t.equal(recent.read('s1', OPEN), read, `${name}: the entry is the text read, as it was`)
  }
  // Two requests of a turn share one read; once the first one's append extended the entry, the
  // read is no longer what the entry knows, and the second one's append (which would not have
  // landed where it expected in Redis) leaves it.
  const recent = new RecentSessions()
  const shared = recent.read('s1', OPEN)
  if (shared === null) throw new Error('no session')
  recent.wrote('s1', shared, bytes, FRAGMENT, ['d:a', '2', 'd:c', '3'], [])
  recent.wrote('s1', shared, bytes, Z, ['d:z', '9'], [])
  const known = recent.read('s1', OPEN + FRAGMENT)
  t.same(known?.appended, { 'd:a': '2', 'd:c': '3' }, 'the first append alone')
  t.not(known?.known, null)
  const more = recent.read('s1', OPEN + FRAGMENT + Z)
  t.same(more?.appended, { 'd:a': '2', 'd:c': '3', 'd:z': '9' }, 'the other parsed from the text')
  t.equal(more?.known, null)
})

t.test('the appends an entry knows count toward the size bound', async (t) => {
  const recent = new RecentSessions(10, OPEN.length + FRAGMENT.length)
  const read = recent.read('s1', OPEN)
  if (read === null) throw new Error('no session')
  recent.wrote('s1', read, Buffer.byteLength(OPEN), FRAGMENT, ['d:a', '2', 'd:c', '3'], [])
  t.equal(recent.size, 1, 'the text and its tail fit')
  const again = recent.read('s1', OPEN + FRAGMENT)
  if (again === null) throw new Error('no session')
  recent.wrote('s1', again, Buffer.byteLength(OPEN + FRAGMENT), FRAGMENT, ['d:a', '2', 'd:c', '3'], [])
  t.equal(recent.size, 0, 'one fragment more does not: the entry leaves')
  t.equal(recent.kept('s1'), undefined)
})

t.test('a read moves its session to the most recently read, from whichever place it held', async (t) => {
  const recent = new RecentSessions(3, 100 * OPEN.length)
  const kept = (): string[] => ['a', 'b', 'c', 'd', 'e'].filter((id) => recent.kept(id) !== undefined)
  for (const id of ['a', 'b', 'c']) recent.read(id, OPEN)
  recent.read('a', OPEN) // the least recently read becomes the most: b, c, a
  recent.read('c', OPEN) // one in the middle: b, a, c
  recent.read('c', OPEN) // the most recently read stays so
  recent.read('d', OPEN)
  t.same(kept(), ['a', 'c', 'd'], 'b, the least recently read, left first')
  recent.read('e', OPEN)
  t.same(kept(), ['c', 'd', 'e'], 'then a')
  // A text that no longer extends the one kept (a compaction rewrote it): parsed whole, kept anew as the most recent.
  const rewritten = OPEN.replace('"1"', '"2"')
  recent.read('d', rewritten)
  recent.read('f', OPEN)
  t.same(kept(), ['d', 'e'], 'c went; d, read last before f, stayed')
  t.equal(recent.kept('d')?.text, rewritten)
  recent.read('e', null)
  recent.read('f', null)
  recent.read('d', null)
  t.equal(recent.size, 0, 'sessions read as gone leave, from every place')
  recent.read('g', OPEN)
  t.same(recent.kept('g')?.text, OPEN, 'an emptied list takes sessions again')
})

t.test("an append this instance wrote leaves its session's place as its read set it", async (t) => {
  const recent = new RecentSessions(2, 100 * OPEN.length)
  const a = recent.read('a', OPEN)
  recent.read('b', OPEN)
  if (a === null) throw new Error('no session')
  recent.wrote('a', a, Buffer.byteLength(OPEN), FRAGMENT, ['d:a', '2', 'd:c', '3'], [])
  recent.read('c', OPEN)
  t.equal(recent.kept('a'), undefined, 'a, read before b, left first although written last')
  t.not(recent.kept('b'), undefined)
})
