import t from 'tap'
import { createCodec, jsonCodec, safeJsonParse, type Codec } from '@scaleout/core'

const plugin = '@scaleout/test'

t.test('the JSON codec round-trips plain data', async (t) => {
  const codec = createCodec(plugin)
  t.equal(codec.name, 'json')
  t.equal(codec.maxBytes, 1024 * 1024)
  const value = { a: 1, b: 'two', c: [true, null], d: { e: 'é' } }
  t.same(codec.decode(codec.encode(value)), value)
  t.same(codec.decode(Buffer.from('{"x":1}')), { x: 1 })
})

t.test('what JSON does not round-trip is documented behaviour, not a surprise', async (t) => {
  const codec = createCodec(plugin)
  const date = new Date('2026-01-02T03:04:05.000Z')
  t.equal((codec.decode(codec.encode({ date })) as { date: unknown }).date, '2026-01-02T03:04:05.000Z')
  t.same(codec.decode(codec.encode({ map: new Map([['k', 1]]) })), { map: {} })
  t.throws(() => codec.encode({ n: 1n }), { code: 'SCALEOUT_ERR_ENCODE', message: /Value could not be encoded: Do not know how to serialize a BigInt/ })
  t.throws(() => codec.encode(undefined), { code: 'SCALEOUT_ERR_ENCODE', message: 'Value could not be encoded: undefined has no JSON form' })
  const circular: Record<string, unknown> = {}
  circular.self = circular
  t.throws(() => codec.encode(circular), { code: 'SCALEOUT_ERR_ENCODE' })
})

t.test('values over the size limit fail with a coded error that gives both sizes', async (t) => {
  const codec = createCodec(plugin, { maxBytes: 16 })
  t.equal(codec.encode('x'.repeat(3)), '"xxx"')
  t.throws(() => codec.encode('x'.repeat(15)), { code: 'SCALEOUT_ERR_VALUE_TOO_LARGE', statusCode: 413, message: 'Encoded value is 17 bytes, over the limit of 16 bytes' })
  // Multi-byte characters are counted in bytes, not UTF-16 units: 6 x 3 bytes + 2 quotes.
  t.throws(() => codec.encode('€'.repeat(6)), { message: 'Encoded value is 20 bytes, over the limit of 16 bytes' })
  t.equal(codec.encode('€'.repeat(4)), '"€€€€"')
  const binary: Codec = { name: 'raw', encode: (v) => Buffer.from(String(v)), decode: (raw) => raw.toString() }
  const sized = createCodec(plugin, { codec: binary, maxBytes: 4 })
  t.same(sized.encode('abcd'), Buffer.from('abcd'))
  t.throws(() => sized.encode('abcde'), { code: 'SCALEOUT_ERR_VALUE_TOO_LARGE', message: 'Encoded value is 5 bytes, over the limit of 4 bytes' })
})

t.test('decoding never pollutes prototypes', async (t) => {
  const codec = createCodec(plugin)
  const decoded = codec.decode('{"a":1,"__proto__":{"polluted":true},"nested":{"__proto__":{"polluted":true}}}') as Record<string, unknown>
  t.same(decoded, { a: 1, nested: {} })
  t.equal(Object.hasOwn(decoded, '__proto__'), false)
  const merged = Object.assign({}, decoded, decoded.nested)
  t.equal((merged as { polluted?: boolean }).polluted, undefined)
  t.equal(({} as { polluted?: boolean }).polluted, undefined)

  const ctor = safeJsonParse('{"constructor":{"prototype":{"polluted":true}},"keep":{"constructor":"a plain string"}}')
  t.same(ctor, { keep: { constructor: 'a plain string' } })
  t.same(safeJsonParse('{"prototype":1}'), { prototype: 1 })
})

t.test('undecodable input fails with SCALEOUT_ERR_DECODE', async (t) => {
  const codec = createCodec(plugin)
  t.throws(() => codec.decode('{not json'), { code: 'SCALEOUT_ERR_DECODE', message: /^Stored value could not be decoded: / })
})

t.test('a pluggable codec is checked at register time', async (t) => {
  const bad: unknown[] = [null, 'json', {}, { name: 'x', encode: () => '' }, { name: 'has space', encode: () => '', decode: () => 1 }, { name: 1, encode: () => '', decode: () => 1 }]
  for (const codec of bad) {
    t.throws(() => createCodec(plugin, { codec }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `codec` is invalid: expected \{ name, encode\(value\), decode\(raw\) \}/ })
  }
  t.throws(() => createCodec(plugin, { maxBytes: 0 }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/test: option `maxBytes` is invalid: expected an integer from 1 to 536870912' })
  t.equal(jsonCodec.name, 'json')
})
