import t from 'tap'
import fc from 'fast-check'
import { createCodec, jsonCodec, safeJsonParse, type Codec } from '@scaleout/core'
import { adminFor, appFor, redisFor } from '../helpers/index.js'

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

t.test('only text that can hold a key is searched: objects and arrays, after leading whitespace too', async (t) => {
  for (const lead of ['', ' ', '\t', '\n', '\r', ' \r\n\t']) {
    t.same(safeJsonParse(lead + '{"__proto__":{"polluted":true},"a":1}'), { a: 1 }, JSON.stringify(lead) + ' object')
    t.same(safeJsonParse(lead + '[{"\\u005f_proto__":{"polluted":true}}]'), [{}], JSON.stringify(lead) + ' array')
  }
  // Anything else is a string, number, true, false or null, as JSON.parse reads it.
  t.same(['"__proto__"', '"user-1"', '"caf\\u00e9"', '42', '-1.5e3', 'true', 'false', 'null'].map(safeJsonParse), ['__proto__', 'user-1', 'café', 42, -1500, true, false, null])
  for (const text of ['', 'x', '"open', 'undefined', '1 2']) t.throws(() => safeJsonParse(text), SyntaxError, JSON.stringify(text))
})

t.test('undecodable input fails with SCALEOUT_ERR_DECODE; the parser\'s error is its cause', async (t) => {
  const codec = createCodec(plugin)
  const err = (() => { try { codec.decode('{not json') } catch (err) { return err } })() as Error & { code: string, cause: Error }
  t.equal(err.code, 'SCALEOUT_ERR_DECODE')
  t.equal(err.message, 'Stored value could not be decoded (the reason is in the error\'s cause)')
  t.type(err.cause, SyntaxError)
})

// Regression: the error's message was the parser's, which quotes the text it could not parse
// (`Unexpected token 'a', "api-key: s"... is not valid JSON`), and Fastify sends the message of an
// error a handler lets through: a client saw the start of a stored value it was never to see.
t.test('a stored value that does not decode: the error a handler lets through quotes none of it', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const stored = 'api-key: sk_live_0123456789'
  await admin.set('k', stored)
  const codec = createCodec(plugin)
  const app = appFor(t)
  app.get('/', async () => codec.decode(await admin.get('k') as string))
  const res = await app.inject('/')
  t.equal(res.statusCode, 500)
  t.same(res.json(), { statusCode: 500, code: 'SCALEOUT_ERR_DECODE', error: 'Internal Server Error', message: 'Stored value could not be decoded (the reason is in the error\'s cause)' })
  t.notOk(res.body.includes('api-key'))
})

t.test('a pluggable codec is checked at register time', async (t) => {
  const bad: unknown[] = [null, 'json', {}, { name: 'x', encode: () => '' }, { name: 'has space', encode: () => '', decode: () => 1 }, { name: 1, encode: () => '', decode: () => 1 }]
  for (const codec of bad) {
    t.throws(() => createCodec(plugin, { codec }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: /option `codec` is invalid: expected \{ name, encode\(value\), decode\(raw\) \}/ })
  }
  t.throws(() => createCodec(plugin, { maxBytes: 0 }), { code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/test: option `maxBytes` is invalid: expected an integer from 1 to 536870912' })
  t.equal(jsonCodec.name, 'json')
})

// Regression: the filter looked for the literal names in the raw text, so \u escapes slipped by.
const escape = (c: string, upper = false): string => {
  const hex = c.charCodeAt(0).toString(16).padStart(4, '0')
  return '\\u' + (upper ? hex.toUpperCase() : hex)
}
/** `name` as written, with its first character escaped (`\u005f_proto__`), fully escaped in either case, and half escaped. */
const spellings = (name: string): string[] => [
  name,
  escape(name[0] as string) + name.slice(1),
  [...name].map((c) => escape(c)).join(''),
  [...name].map((c) => escape(c, true)).join(''),
  [...name].map((c, i) => i % 2 === 0 ? escape(c, i % 4 === 0) : c).join('')
]

function polluted (value: unknown): string | null {
  if (value === null || typeof value !== 'object') return null
  if (Object.hasOwn(value, '__proto__')) return 'own __proto__'
  const ctor = (value as Record<string, unknown>).constructor
  if (Object.hasOwn(value, 'constructor') && ctor !== null && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype')) return 'constructor.prototype'
  for (const child of Object.values(value)) {
    const found = polluted(child)
    if (found !== null) return found
  }
  return null
}

t.test('escaped spellings of __proto__ and constructor.prototype are stripped too', async (t) => {
  const codec = createCodec(plugin)
  for (const proto of spellings('__proto__')) {
    const text = `{"a":1,"${proto}":{"polluted":true},"nested":[{"${proto}":{"polluted":true}}]}`
    const decoded = codec.decode(text) as Record<string, unknown>
    t.same(decoded, { a: 1, nested: [{}] }, text)
    t.equal(polluted(decoded), null, text)
    t.equal((Object.assign({}, decoded) as { polluted?: boolean }).polluted, undefined)
  }
  for (const ctor of spellings('constructor')) {
    for (const proto of spellings('prototype')) {
      const text = `{"${ctor}":{"${proto}":{"polluted":true}},"keep":{"${ctor}":"a plain string"}}`
      t.same(safeJsonParse(text), { keep: { constructor: 'a plain string' } }, text)
    }
  }
  // Other escapes still decode as JSON says.
  t.same(safeJsonParse('{"caf\\u00e9":"\\u20ac","s":"a\\\\u005f"}'), { café: '€', s: 'a\\u005f' })
})

t.test('property: whatever the spelling, no decoded object has an own __proto__ or a constructor.prototype', async (t) => {
  const spell = (name: string): fc.Arbitrary<string> => fc.array(fc.tuple(fc.boolean(), fc.boolean()), { minLength: name.length, maxLength: name.length })
    .map((flags) => [...name].map((c, i) => {
      const [escaped, upper] = flags[i] as [boolean, boolean]
      return escaped ? escape(c, upper) : c
    }).join(''))
  const danger = fc.oneof(
    spell('__proto__').map((k) => `{"${k}":{"polluted":true}}`),
    fc.tuple(spell('constructor'), spell('prototype')).map(([c, p]) => `{"${c}":{"${p}":{"polluted":true}}}`)
  )
  const json: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
    node: fc.oneof({ depthSize: 'small', withCrossShrink: true },
      danger,
      fc.jsonValue({ maxDepth: 1 }).map((v) => JSON.stringify(v)),
      fc.array(fc.tuple(fc.string({ maxLength: 6 }), tie('node')), { maxLength: 4 })
        .map((entries) => '{' + entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',') + '}'),
      fc.array(tie('node'), { maxLength: 4 }).map((items) => '[' + items.join(',') + ']'))
  })).node
  fc.assert(fc.property(json, (text) => {
    const decoded = safeJsonParse(text)
    return polluted(decoded) === null && ({} as { polluted?: boolean }).polluted === undefined
  }), { numRuns: 2000 })
  t.pass('2000 documents decoded clean')
})
