import { EncodeError, safeJsonParse } from '@scaleout/core'
import type { MessageMeta } from './types.js'

// The wire form is one JSON object whose body comes last:
//   {"v":1,"id":"<uuid>","o":"<origin>","t":<ms>,"d":<body>}
// Built by concatenation (the body is encoded once, never re-encoded inside a wrapper), and read
// back by matching the fixed head, so the body's text can go to WebSocket clients as it is.
// Anything else on our channels (a stray redis-cli PUBLISH, another version) is rejected.

export const VERSION = 1
const HEAD = /^\{"v":1,"id":"([0-9a-f-]{36})","o":"([\w.:-]{1,200})","t":(\d{1,16}),"d":/

export function encodeEnvelope (id: string, origin: string, time: number, body: string): string {
  return `{"v":${VERSION},"id":"${id}","o":"${origin}","t":${time},"d":${body}}`
}

/** One message as handlers and sockets receive it; decoding and framing happen at most once. */
export class Delivery {
  readonly meta: MessageMeta
  /** The body's JSON text. */
  readonly body: string
  private value: unknown
  private decoded = false
  private framed: Buffer | undefined

  constructor (meta: MessageMeta, body: string, value?: unknown) {
    this.meta = meta
    this.body = body
    if (value !== undefined) {
      this.value = value
      this.decoded = true
    }
  }

  message (): unknown {
    if (!this.decoded) {
      this.value = safeJsonParse(this.body)
      this.decoded = true
    }
    return this.value
  }

  /** The WebSocket text frame, shared by every socket of the channel. */
  frame (): Buffer {
    this.framed ??= Buffer.from(`{"channel":${JSON.stringify(this.meta.channel)},"data":${this.body}}`)
    return this.framed
  }
}

/**
 * A copy of a short piece of a message's text. V8 makes a substring of 13 characters or more (a
 * regex capture, a slice) a view that keeps the whole text alive: an id kept in the de-duplication
 * window would pin its message, up to `dedupWindow` messages of up to `maxBytes` each, and
 * make every young-generation GC copy them. Concatenation then slicing copies just these characters.
 */
function own (piece: string): string {
  return (' ' + piece).slice(1)
}

// Text that could spell a prototype key: the names themselves, or any JSON escape (`\u005f_proto__`).
const SUSPICIOUS = /\\u|__proto__|constructor|prototype/

/**
 * Sockets get the body's text as it is, so a body that could spell a prototype key by any means is
 * written again from its decode: the core's safeJsonParse never keeps such a key, so clients only
 * ever see what it kept.
 */
function safeBody (body: string, value: unknown): string {
  return SUSPICIOUS.test(body) ? JSON.stringify(value) : body
}

/** A body this instance encoded: written again from its safe decode when it could hold a prototype key. */
export function cleanEncoded (text: string): string {
  if (!SUSPICIOUS.test(text)) return text
  try {
    return JSON.stringify(safeJsonParse(text))
  } catch (err) {
    // Nested deeper than the stripping parse can follow (its reviver recurses: about 3,000 levels,
    // where JSON.stringify goes to about 5,000): refused, coded, as the codec refuses what it cannot encode.
    const coded = new EncodeError('nested too deeply to be checked for __proto__ keys')
    coded.cause = err
    throw coded
  }
}

/**
 * Reads an envelope from Redis, or returns undefined when it is not one, or when its body is larger
 * than `maxBytes` (anyone who may PUBLISH could otherwise hand every socket of every instance a
 * message of any size, past the cap publish() keeps to). The body is parsed here, once: garbage
 * never reaches a handler or a socket.
 */
export function decodeEnvelope (channel: string, text: string, maxBytes: number): Delivery | undefined {
  const head = HEAD.exec(text)
  if (head === null || !text.endsWith('}')) return undefined
  const raw = text.slice(head[0].length, -1)
  // A UTF-8 text takes at least as many bytes as it has UTF-16 units: the length alone refuses most.
  if (raw.length > maxBytes || Buffer.byteLength(raw) > maxBytes) return undefined
  let value: unknown
  try {
    value = safeJsonParse(raw)
  } catch {
    return undefined
  }
  const body = safeBody(raw, value)
  const meta: MessageMeta = Object.freeze({ channel, id: own(head[1] as string), origin: own(head[2] as string), time: Number(head[3]), local: false })
  return new Delivery(meta, body, value)
}
