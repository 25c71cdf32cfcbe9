import { safeJsonParse } from '@scaleout/core'
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
 * Reads an envelope from Redis, or returns undefined when it is not one. The body is parsed here,
 * once: garbage never reaches a handler or a socket.
 */
export function decodeEnvelope (channel: string, text: string): Delivery | undefined {
  const head = HEAD.exec(text)
  if (head === null || !text.endsWith('}')) return undefined
  const body = text.slice(head[0].length, -1)
  let value: unknown
  try {
    value = safeJsonParse(body)
  } catch {
    return undefined
  }
  const meta: MessageMeta = Object.freeze({ channel, id: head[1] as string, origin: head[2] as string, time: Number(head[3]), local: false })
  return new Delivery(meta, body, value)
}
