import t from 'tap'
import { encodeCommand, ReplyError, ReplyReader, type Reply } from '../../lib/src/resp.js'

// The lean link's reply parser, fed the bytes Redis sends (RESP2), whole and cut at every byte.

/** Parses `chunks` in order; what came out, with errors as their messages. */
function read (chunks: Buffer[], binary = false): Reply[] {
  const replies: Reply[] = []
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

t.test('a byte that starts no RESP2 reply (a RESP3 map) is refused', async (t) => {
  t.throws(() => read([Buffer.from('%1\r\n+a\r\n+b\r\n')]), /unexpected RESP type byte 37/)
})

t.test('commands go out as arrays of bulk strings, lengths in bytes', async (t) => {
  t.equal(encodeCommand('', 'set', ['k☃', 12]), '*3\r\n$3\r\nset\r\n$4\r\nk☃\r\n$2\r\n12\r\n')
  t.equal(encodeCommand('*1\r\n$4\r\nping\r\n', 'get', ['']), '*1\r\n$4\r\nping\r\n*2\r\n$3\r\nget\r\n$0\r\n\r\n', 'appended to what the turn has already')
})
