import t from 'tap'
import { encodeCommand, ReplyError, ReplyReader, type Reply } from '../../lib/src/resp.js'

// The lean link's reply parser, fed the bytes Redis sends (RESP2), whole and cut at every byte.

/** Parses `chunks` in order; what came out, with errors as their messages. */
function read (chunks: Buffer[], binary = false): Array<Reply | Error> {
  const replies: Array<Reply | Error> = []
  const reader = new ReplyReader((reply) => { replies.push(reply) }, () => binary)
  for (const chunk of chunks) reader.feed(chunk)
  return replies
}

const STREAM = Buffer.from([
  '+OK\r\n',
  '-ERR wrong number of arguments\r\n',
  ':42\r\n',
  ':-7\r\n',
  '$-1\r\n',
  '$0\r\n\r\n',
  `$${Buffer.byteLength('naïve ☃')}\r\nnaïve ☃\r\n`,
  '*-1\r\n',
  '*0\r\n',
  '*3\r\n:1\r\n$2\r\nab\r\n*2\r\n$-1\r\n-NOSCRIPT gone\r\n'
].join(''))

const EXPECTED: Reply[] = ['OK', new ReplyError('ERR wrong number of arguments'), 42, -7, null, '', 'naïve ☃', null, [], [1, 'ab', [null, new ReplyError('NOSCRIPT gone')]]]

t.test('every kind of RESP2 reply, whole', async (t) => {
  const replies = read([STREAM])
  t.same(replies, EXPECTED)
  t.type(replies[1], ReplyError)
  t.equal((replies[1] as Error).name, 'ReplyError')
})

t.test('the same stream cut in two at every byte, and fed one byte at a time', async (t) => {
  for (let cut = 1; cut < STREAM.length; cut++) {
    t.same(read([STREAM.subarray(0, cut), STREAM.subarray(cut)]), EXPECTED, `cut at ${cut}`)
  }
  t.same(read(Array.from(STREAM, (byte) => Buffer.from([byte]))), EXPECTED)
})

t.test('bulk replies as bytes when the command asked for them', async (t) => {
  const bytes = Buffer.from([0xff, 0x00, 0x0d, 0x0a, 0xc3])
  const replies = read([Buffer.concat([Buffer.from('$5\r\n'), bytes, Buffer.from('\r\n')])], true)
  t.same(replies, [bytes])
  t.ok(Buffer.isBuffer(replies[0]))
})

t.test('a long bulk reply gathered over many chunks, then the next reply', async (t) => {
  const value = 'x'.repeat(200_000)
  const stream = Buffer.from(`$${value.length}\r\n${value}\r\n:5\r\n`)
  const chunks: Buffer[] = []
  for (let at = 0; at < stream.length; at += 1000) chunks.push(stream.subarray(at, at + 1000))
  t.same(read(chunks), [value, 5])
})

// Regression: parse() recursed once per nesting level: a reply nested 5000 deep (Redis returns a
// script's table that deep) threw RangeError, and the link dropped the connection.
t.test('arrays nested far deeper than the call stack goes, whole and cut', async (t) => {
  const depth = 100_000
  const stream = Buffer.from('*1\r\n'.repeat(depth) + '*2\r\n:1\r\n$1\r\nx\r\n' + '+next\r\n')
  /** How deep `reply` is nested, and what is at its bottom. */
  const bottom = (reply: Reply): [number, Reply] => {
    let levels = 0
    while (Array.isArray(reply) && reply.length === 1) {
      reply = reply[0] as Reply
      levels++
    }
    return [levels, reply]
  }
  for (const chunks of [[stream], [stream.subarray(0, 200_001), stream.subarray(200_001)]]) {
    const replies = read(chunks)
    t.equal(replies.length, 2)
    t.same(bottom(replies[0] as Reply), [depth, [1, 'x']])
    t.equal(replies[1], 'next')
  }
})

/** What feeding `text` throws: its code and its cause's message. */
function refusal (text: string): { code?: string, cause?: string } {
  try {
    read([Buffer.from(text, 'latin1')])
  } catch (err) {
    return { code: (err as { code?: string }).code, cause: ((err as Error).cause as Error).message }
  }
  return {}
}

t.test('a byte that starts no RESP2 reply (a RESP3 map) is refused', async (t) => {
  t.same(refusal('%1\r\n+a\r\n+b\r\n'), { code: 'SCALEOUT_ERR_DECODE', cause: 'not a RESP2 reply: unexpected type byte 37' })
})

// Regression: a header's number was read without a digit check (":12a" read as 169, "$1x" as a
// length of 82), a length below -1 as null, and a bulk string or line end was never checked.
t.test('a malformed header or line is refused with SCALEOUT_ERR_DECODE, never read as a value', async (t) => {
  const cases: Array<[string, string]> = [
    [':12a\r\n', 'a header whose number is not decimal'],
    [':1 2\r\n', 'a header whose number is not decimal'],
    ['$1x\r\nv\r\n', 'a header whose number is not decimal'],
    ['*+1\r\n:1\r\n', 'a header whose number is not decimal'],
    [':\r\n', 'a header without its number'],
    ['$-\r\n', 'a header without its number'],
    ['$-2\r\n', 'a negative length'],
    ['*-5\r\n', 'a negative length'],
    ['$1\r\nvalue\r\n', 'a bulk string longer than its length'],
    ['$2\r\nab\rX', 'a bulk string longer than its length'],
    ['+OK\rX\r\n', 'a line not ended by CRLF'],
    ['*2\r\n:1\r\n:2x\r\n', 'a header whose number is not decimal']
  ]
  for (const [text, cause] of cases) {
    t.same(refusal(text), { code: 'SCALEOUT_ERR_DECODE', cause: `not a RESP2 reply: ${cause}` }, JSON.stringify(text))
  }
  t.same(read([Buffer.from(':-0\r\n:007\r\n$-1\r\n*-1\r\n')]), [-0, 7, null, null], 'what RESP2 allows still reads')
})

// Regression: a header's length was taken at its word: "$99999999999" had the link hold whatever
// came after it (memory growing with it) until the command's deadline, and "*99999999999" wait
// for items as long.
t.test('a header claiming more than Redis sends or JavaScript holds is refused as soon as it is read', async (t) => {
  const cases: Array<[string, string]> = [
    ['$99999999999\r\n', 'a bulk length over 512 MiB'],
    ['$536870913\r\n', 'a bulk length over 512 MiB'],
    ['*4294967296\r\n', 'an array of more than 2^32-1 items'],
    ['*99999999999999999999\r\n:1\r\n', 'an array of more than 2^32-1 items'],
    ['*1\r\n$99999999999\r\n', 'a bulk length over 512 MiB'],
    ['$-99999999999\r\n', 'a negative length'],
    ['$' + '9'.repeat(30), 'a header longer than a 64-bit number'],
    [':' + '1'.repeat(21) + '\r\n', 'a header longer than a 64-bit number'],
    ['*' + '0'.repeat(25) + '1\r\n', 'a header longer than a 64-bit number']
  ]
  for (const [text, cause] of cases) {
    t.same(refusal(text), { code: 'SCALEOUT_ERR_DECODE', cause: `not a RESP2 reply: ${cause}` }, JSON.stringify(text))
  }
  // Fed a byte at a time, a header without end is refused at its 22nd byte, not held.
  const reader = new ReplyReader(() => {}, () => false)
  let fed = 0
  t.throws(() => { for (const byte of Buffer.from('$' + '9'.repeat(100))) { fed++; reader.feed(Buffer.from([byte])) } }, { code: 'SCALEOUT_ERR_DECODE' })
  t.equal(fed, 22, 'refused on the first byte past the longest header')
})

t.test('the largest lengths Redis sends by default still read (the reader waits for their bytes)', async (t) => {
  const replies: Array<Reply | Error> = []
  const bulk = new ReplyReader((reply) => { replies.push(reply) }, () => false)
  bulk.feed(Buffer.from('$536870912\r\nabc'))
  const array = new ReplyReader((reply) => { replies.push(reply) }, () => false)
  array.feed(Buffer.from('*4294967295\r\n:1\r\n'))
  t.same(replies, [], 'nothing refused; the replies are not whole yet')
  t.same(read([Buffer.from(`:-${'0'.repeat(18)}7\r\n$${'0'.repeat(19)}3\r\nabc\r\n`)]), [-7, 'abc'], 'a 21-byte header reads')
})

// Regression: an integer reply was read as a Number however large: ":9007199254740993" read as
// 9007199254740992, a wrong count given as a right one.
t.test('an integer reply a Number cannot hold exactly refuses its reply, coded; the stream reads on', async (t) => {
  const stream = Buffer.from([
    ':9007199254740991\r\n',
    ':-9007199254740991\r\n',
    ':9007199254740992\r\n',
    ':-9223372036854775808\r\n',
    '*3\r\n:1\r\n*1\r\n:9223372036854775807\r\n$1\r\nx\r\n',
    '*2\r\n:1\r\n$1\r\ny\r\n'
  ].join(''))
  const check = (replies: Array<Reply | Error>, label: string): void => {
    t.equal(replies.length, 6, label)
    t.same(replies.slice(0, 2), [9007199254740991, -9007199254740991], `${label}: the safe extremes read exactly`)
    for (const refused of replies.slice(2, 5)) {
      t.type(refused, Error, label)
      t.notOk(refused instanceof ReplyError, `${label}: not an error Redis sent`)
      t.equal((refused as { code?: string }).code, 'SCALEOUT_ERR_DECODE', label)
      t.equal(((refused as Error).cause as Error).message, 'an integer reply beyond Number.MAX_SAFE_INTEGER', label)
    }
    t.same(replies[5], [1, 'y'], `${label}: the next reply reads as it is`)
  }
  check(read([stream]), 'whole')
  for (let cut = 1; cut < stream.length; cut++) check(read([stream.subarray(0, cut), stream.subarray(cut)]), `cut at ${cut}`)

  const replies: Array<Reply | Error> = []
  const reader = new ReplyReader((reply) => { replies.push(reply) }, () => false)
  reader.feed(Buffer.from('*2\r\n:99999999999999999\r\n'))
  reader.reset()
  reader.feed(Buffer.from(':7\r\n'))
  t.same(replies, [7], 'reset() forgets the refusal of a reply cut short')
})

t.test('commands go out as arrays of bulk strings, lengths in bytes', async (t) => {
  t.equal(encodeCommand('', 'set', ['k☃', 12]), '*3\r\n$3\r\nset\r\n$4\r\nk☃\r\n$2\r\n12\r\n')
  t.equal(encodeCommand('*1\r\n$4\r\nping\r\n', 'get', ['']), '*1\r\n$4\r\nping\r\n*2\r\n$3\r\nget\r\n$0\r\n\r\n', 'appended to what the turn has already')
})

/** Runs `fn`, counting the bytes Buffer.concat copies meanwhile (the reader joins held chunks with it). */
function copied (fn: () => void): number {
  const concat = Buffer.concat
  let bytes = 0
  Buffer.concat = (list: readonly Uint8Array[], length?: number): ReturnType<typeof concat> => {
    const joined = concat(list, length)
    bytes += joined.length
    return joined
  }
  try {
    fn()
  } finally {
    Buffer.concat = concat
  }
  return bytes
}

function chunked (stream: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = []
  for (let at = 0; at < stream.length; at += size) chunks.push(stream.subarray(at, at + size))
  return chunks
}

// Regression: an array split across chunks was parsed again from its start at every chunk, with
// all it had gathered joined anew each time: a 16 MB array of small strings, fed as a socket
// delivers it (64 KiB at a time), held the event loop for 28 s; one array holding a 16 MB string,
// 1.7 s (the same string alone: 0.1 s).
t.test('an array split across chunks is read once, not again from its start at every chunk', async (t) => {
  const words = Array.from({ length: 50_000 }, (_, i) => `item-${i}`)
  const many = Buffer.from(`*${words.length}\r\n` + words.map((w) => `$${w.length}\r\n${w}\r\n`).join(''))
  let replies: Array<Reply | Error> = []
  const bytes = copied(() => { replies = read(chunked(many, 65_536)) })
  t.same(replies, [words])
  t.ok(bytes < 2 * many.length, `small items: only an item cut by a chunk's end is held, then joined to the next chunk (${bytes} bytes copied for ${many.length})`)

  const value = 'v'.repeat(4 << 20)
  const nested = Buffer.from(`*3\r\n:1\r\n*1\r\n$${value.length}\r\n${value}\r\n$-1\r\n+OK\r\n`)
  const big = copied(() => { replies = read(chunked(nested, 65_536)) })
  t.same(replies, [[1, [value], null], 'OK'])
  t.ok(big < 2 * nested.length, `a long string in an array: gathered, then joined once (${big} bytes copied for ${nested.length})`)
})

// Regression: a line without its end (a long error or status text) was joined with all it had
// gathered and scanned again at every chunk, quadratic in its length, and held without bound.
t.test('a long line is gathered, joined once its end comes, and bounded like a bulk string', async (t) => {
  const text = 'E'.repeat(4 << 20)
  const stream = Buffer.from(`-${text}\r\n+${text}\r\n:1\r\n`)
  let replies: Array<Reply | Error> = []
  const bytes = copied(() => { replies = read(chunked(stream, 65_536)) })
  t.same(replies, [new ReplyError(text), text, 1])
  t.ok(bytes < 2 * stream.length, `joined once per line, not at every chunk (${bytes} bytes copied for ${stream.length})`)

  // Past 512 MiB without an end: refused, as a bulk string's header claiming as much is.
  const chunk = Buffer.alloc(64 << 20, 0x61)
  chunk[0] = 0x2b
  const reader = new ReplyReader(() => {}, () => false)
  for (let i = 0; i < 8; i++) reader.feed(chunk)
  t.throws(() => { reader.feed(chunk) }, { code: 'SCALEOUT_ERR_DECODE', cause: { message: 'not a RESP2 reply: a line longer than 512 MiB' } }, 'the chunk that takes it past 512 MiB')

  // What could be refused before the line's end still is, as it comes.
  t.same(refusal('%1'), { code: 'SCALEOUT_ERR_DECODE', cause: 'not a RESP2 reply: unexpected type byte 37' }, 'a type byte that starts no reply')
  const stray = new ReplyReader(() => {}, () => false)
  stray.feed(Buffer.from('+abc'))
  t.throws(() => { stray.feed(Buffer.from('d\re')) }, { code: 'SCALEOUT_ERR_DECODE', cause: { message: 'not a RESP2 reply: a line not ended by CRLF' } }, 'a CR not followed by LF')
  const header = new ReplyReader(() => {}, () => false)
  header.feed(Buffer.from('$12'))
  t.throws(() => { for (let i = 0; i < 20; i++) header.feed(Buffer.from('3')) }, { code: 'SCALEOUT_ERR_DECODE', cause: { message: 'not a RESP2 reply: a header longer than a 64-bit number' } }, 'a header without end, held a chunk at a time')
})

t.test('reset() forgets a reply cut short: the next connection\'s replies start clean', async (t) => {
  const replies: Array<Reply | Error> = []
  const reader = new ReplyReader((reply) => { replies.push(reply) }, () => false)
  reader.feed(Buffer.from('*2\r\n*2\r\n:1\r\n$5\r\nab'))
  reader.reset()
  reader.feed(Buffer.from(':7\r\n*1\r\n+OK\r\n'))
  t.same(replies, [7, ['OK']])
})

// The resuming parser keeps arrays begun in earlier chunks: random nested replies, cut at random
// places (a fixed seed, so a failure repeats), must read exactly as they do whole.
t.test('random nested replies cut at random places read as they do whole', async (t) => {
  let seed = 12345
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % n
  }
  const reply = (depth: number): [string, Reply] => {
    const kind = random(depth < 4 ? 6 : 4)
    if (kind === 0) {
      const n = random(2000) - 1000
      return [`:${n}\r\n`, n]
    }
    if (kind === 1) {
      const text = 'x'.repeat(random(40)) + 'é'
      return [`$${Buffer.byteLength(text)}\r\n${text}\r\n`, text]
    }
    if (kind === 2) return ['$-1\r\n', null]
    if (kind === 3) return ['+OK\r\n', 'OK']
    const items = Array.from({ length: random(5) }, () => reply(depth + 1))
    return [`*${items.length}\r\n` + items.map(([text]) => text).join(''), items.map(([, value]) => value)]
  }
  for (let round = 0; round < 200; round++) {
    const replies = Array.from({ length: 1 + random(4) }, () => reply(0))
    const bytes = Buffer.from(replies.map(([text]) => text).join(''))
    const chunks: Buffer[] = []
    for (let at = 0; at < bytes.length;) {
      const size = 1 + random(12)
      chunks.push(bytes.subarray(at, at + size))
      at += size
    }
    t.same(read(chunks), replies.map(([, value]) => value), `round ${round}`)
  }
})
