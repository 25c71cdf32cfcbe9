import { DecodeError, EncodeError, ValueTooLargeError } from './errors.js'
import { safeJsonParse } from './json.js'
import { checkInteger, invalid } from './options.js'

/**
 * Turns values into what Redis stores and back. A custom codec must make its own decode safe
 * against prototype pollution (the JSON codec does).
 */
export interface Codec {
  /** Goes into key prefixes: changing codecs (or their version) never serves old-shaped entries. */
  readonly name: string
  encode: (value: unknown) => string | Buffer
  decode: (raw: string | Buffer) => unknown
}

/**
 * JSON: what JSON.stringify keeps comes back. It does not round-trip Date (comes back as an ISO
 * string), Buffer (an object with a `data` array), Map and Set (empty objects), undefined (dropped
 * from objects), BigInt (encode throws) or class instances (plain objects).
 */
export const jsonCodec: Codec = Object.freeze({
  name: 'json',
  encode: (value: unknown): string => {
    const text = JSON.stringify(value)
    if (text === undefined) throw new TypeError(`${typeof value} has no JSON form`)
    return text
  },
  decode: (raw: string | Buffer): unknown => safeJsonParse(typeof raw === 'string' ? raw : raw.toString('utf8'))
})

export interface SizedCodec {
  readonly name: string
  readonly maxBytes: number
  /** Encodes, or throws SCALEOUT_ERR_ENCODE / SCALEOUT_ERR_VALUE_TOO_LARGE. */
  encode: (value: unknown) => string | Buffer
  /** Decodes, or throws SCALEOUT_ERR_DECODE. */
  decode: (raw: string | Buffer) => unknown
}

function byteLength (encoded: string | Buffer, maxBytes: number): number {
  if (typeof encoded !== 'string') return encoded.length
  // UTF-8 needs at most 3 bytes per UTF-16 unit: short strings skip the exact count.
  return encoded.length * 3 <= maxBytes ? encoded.length : Buffer.byteLength(encoded)
}

function checkCodec (plugin: string, codec: unknown): Codec {
  const c = codec as Partial<Codec> | null
  if (c === null || typeof c !== 'object' || typeof c.encode !== 'function' || typeof c.decode !== 'function' ||
      typeof c.name !== 'string' || !/^[\w.-]{1,32}$/.test(c.name)) {
    throw invalid(plugin, 'codec', '{ name, encode(value), decode(raw) } with a name of 1 to 32 word characters')
  }
  return c as Codec
}

/** Wraps a codec with a size limit and coded errors. */
export function createCodec (plugin: string, options: { codec?: unknown, maxBytes?: unknown } = {}): SizedCodec {
  const codec = options.codec === undefined ? jsonCodec : checkCodec(plugin, options.codec)
  const maxBytes = options.maxBytes === undefined ? 1024 * 1024 : checkInteger(plugin, 'maxBytes', options.maxBytes, 1, 512 * 1024 * 1024)
  return Object.freeze({
    name: codec.name,
    maxBytes,
    encode (value: unknown): string | Buffer {
      let encoded: string | Buffer
      try {
        encoded = codec.encode(value)
      } catch (err) {
        const coded = new EncodeError((err as Error).message)
        coded.cause = err
        throw coded
      }
      const size = byteLength(encoded, maxBytes)
      if (size > maxBytes) throw new ValueTooLargeError(size, maxBytes)
      return encoded
    },
    decode (raw: string | Buffer): unknown {
      try {
        return codec.decode(raw)
      } catch (err) {
        const coded = new DecodeError()
        coded.cause = err
        throw coded
      }
    }
  })
}
