// RESP2, the Redis wire protocol, as the lean connection (lean.ts) speaks it: commands out as one
// string per event-loop turn, replies in as they arrive, parsed straight from the socket's bytes.

type Arg = string | number

/** An error reply (`-ERR ...`), named as ioredis names it so that call.ts codes both alike. */
export class ReplyError extends Error {
  override name = 'ReplyError'
}

/** What a reply parses to: text (or bytes, for a caller that asked for them), numbers, nulls, arrays, errors. */
export type Reply = string | Buffer | number | null | ReplyError | Reply[]

/** Appends one command, as a RESP array of bulk strings, to `out`. Lengths are in bytes. */
export function encodeCommand (out: string, name: string, args: readonly Arg[]): string {
  out += `*${args.length + 1}\r\n$${name.length}\r\n${name}\r\n`
  for (const arg of args) {
    const text = typeof arg === 'string' ? arg : String(arg)
    out += `$${Buffer.byteLength(text)}\r\n${text}\r\n`
  }
  return out
}

const CR = 13

/**
 * Parses the replies in a stream of chunks, in order. A reply split across chunks waits for the
 * rest; a long bulk reply is gathered chunk by chunk and joined once it is whole, never re-joined
 * at every chunk.
 */
export class ReplyReader {
  private chunks: Buffer[] = []
  private held = 0
  /** Bytes the reply being gathered needs in all, when its header said (0: not known yet). */
  private need = 0
  private value: Reply = null

  /** `binary()`: whether the next reply's bulk strings are wanted as bytes. */
  constructor (private readonly onReply: (reply: Reply) => void, private readonly binary: () => boolean) {}

  reset (): void {
    this.chunks = []
    this.held = 0
    this.need = 0
  }

  feed (chunk: Buffer): void {
    let data = chunk
    if (this.held > 0) {
      this.chunks.push(chunk)
      this.held += chunk.length
      if (this.held < this.need) return
      data = Buffer.concat(this.chunks, this.held)
      this.reset()
    }
    let at = 0
    while (at < data.length) {
      const end = this.parse(data, at, this.binary())
      if (end < 0) break
      at = end
      this.onReply(this.value)
    }
    if (at < data.length) {
      const rest = data.subarray(at)
      this.chunks = [rest]
      this.held = rest.length
    }
  }

  /** Parses the reply at `at` into `value`; returns where it ends, or -1 if it is not all here. */
  private parse (data: Buffer, at: number, binary: boolean): number {
    const cr = data.indexOf(CR, at + 1)
    if (cr < 0 || cr + 1 >= data.length) {
      this.need = 0
      return -1
    }
    const type = data[at]
    const next = cr + 2
    switch (type) {
      case 0x2b: // +
        this.value = data.toString('utf8', at + 1, cr)
        return next
      case 0x2d: // -
        this.value = new ReplyError(data.toString('utf8', at + 1, cr))
        return next
      case 0x3a: // :
        this.value = integer(data, at + 1, cr)
        return next
      case 0x24: { // $
        const length = integer(data, at + 1, cr)
        if (length < 0) {
          this.value = null
          return next
        }
        const end = next + length
        if (end + 2 > data.length) {
          this.need = end + 2 - at
          return -1
        }
        this.value = binary ? Buffer.from(data.subarray(next, end)) : data.toString('utf8', next, end)
        return end + 2
      }
      case 0x2a: { // *
        const count = integer(data, at + 1, cr)
        if (count < 0) {
          this.value = null
          return next
        }
        const items: Reply[] = []
        let from = next
        for (let i = 0; i < count; i++) {
          if (from >= data.length) {
            this.need = 0
            return -1
          }
          from = this.parse(data, from, binary)
          if (from < 0) {
            // Gathered from the array's start: the bytes needed so far are not the array's.
            this.need = 0
            return -1
          }
          items.push(this.value)
        }
        this.value = items
        return from
      }
      default:
        throw new Error(`unexpected RESP type byte ${String(type)}`)
    }
  }
}

/** The decimal integer in `data` between `from` and `to` (a RESP header's number). */
function integer (data: Buffer, from: number, to: number): number {
  let negative = false
  let at = from
  if (data[at] === 0x2d) {
    negative = true
    at++
  }
  let value = 0
  for (; at < to; at++) value = value * 10 + ((data[at] as number) - 48)
  return negative ? -value : value
}
