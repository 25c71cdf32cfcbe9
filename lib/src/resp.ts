// RESP2, the Redis wire protocol, as the lean connection (lean.ts) speaks it: commands out as one
// string per event-loop turn, replies in as they arrive, parsed straight from the socket's bytes.

import { DecodeError } from './errors.js'

type Arg = string | number

/** An error reply (`-ERR ...`), named as ioredis names it so that call.ts codes both alike. */
export class ReplyError extends Error {
  override name = 'ReplyError'
}

/**
 * What a reply parses to: text (or bytes, for a caller that asked for them), numbers, nulls, arrays,
 * errors. A number is always exact: an integer reply beyond Number.MAX_SAFE_INTEGER refuses the
 * whole reply instead (see ReplyReader).
 */
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
const LF = 10
/**
 * The longest bulk string read: Redis's default proto-max-bulk-len (512 MiB). Redis sends a longer
 * one only if configured to store such values, and a JavaScript string holds no more text (at most
 * 2^29-24 characters); a header claiming more is refused at once, not buffered for until the deadline.
 */
const MAX_BULK = 512 * 1024 * 1024
/** The most items an array may claim: a JavaScript array holds no more (nor does a Redis list, set or hash). */
const MAX_COUNT = 2 ** 32 - 1
/** The longest header line: a type byte and a signed 64-bit decimal ("-9223372036854775808"). */
const MAX_HEADER = 21
/** `need` while the item held is a line that has not ended yet: only a chunk with an LF can end it. */
const LINE = -1

/**
 * Bytes that are not RESP2 (a broken or hostile server, or a command that switched the protocol):
 * nothing after them can be matched to its command, so the link drops the connection. Coded; what
 * was wrong is in the cause, which never quotes the bytes (they may be anything).
 */
function malformed (what: string): Error {
  const err = new DecodeError()
  err.cause = new Error(`not a RESP2 reply: ${what}`)
  return err
}

/**
 * Parses the replies in a stream of chunks, in order. A reply split across chunks resumes where it
 * stopped: the arrays it had begun keep the items read so far, only the unfinished item waits for
 * the rest, and a long bulk string is gathered chunk by chunk and joined once it is whole. Nothing
 * is parsed twice, so a reply costs the same however it is cut (re-reading an array from its start
 * at every chunk took 28 s for a 16 MB array of short strings, fed as a socket gives it).
 *
 * Arrays are opened on a stack of their own rather than by recursion: Redis returns a script's
 * table nested 5000 deep, which overflowed the call stack. Bytes that break RESP2 throw
 * SCALEOUT_ERR_DECODE (see malformed), never a wrong value or a wait for bytes that will not come.
 * So does a header that claims more than Redis sends or JavaScript holds: a bulk string over
 * 512 MiB (Redis's default proto-max-bulk-len), an array of more than 2^32-1 items, a header line
 * longer than a 64-bit number, a length below -1. Such a header is refused as soon as it is read,
 * never buffered for until the caller's deadline.
 *
 * An integer reply beyond Number.MAX_SAFE_INTEGER (2^53-1), which a Number would silently round,
 * is well-formed RESP2 and the link stays up, but the reply, whole (the array it is in too), is
 * given to `onReply` as a SCALEOUT_ERR_DECODE error instead of a value: callers read integers as
 * counts, lengths and times, and a wrong one is worse than a coded failure. A caller that needs
 * larger integers has its script return them as text (as @scaleout/cache's generations are).
 */
export class ReplyReader {
  private chunks: Buffer[] = []
  private held = 0
  /** Bytes the item being gathered needs in all, when its header said (0: not known yet). */
  private need = 0
  private value: Reply = null
  /** The arrays of the reply being read that still wait for items, outermost first... */
  private arrays: Reply[][] = []
  /** ...and how many items each still waits for. */
  private missing: number[] = []
  /** Whether the reply being read wants its bulk strings as bytes: asked as it starts. */
  private bytes = false
  /** Why the reply being read is refused though well-formed (an integer a Number cannot hold). */
  private refused: Error | null = null

  /**
   * `binary()`: whether the next reply's bulk strings are wanted as bytes. `onReply` gets each reply,
   * or the coded error that refuses it.
   */
  constructor (private readonly onReply: (reply: Reply | Error) => void, private readonly binary: () => boolean) {}

  reset (): void {
    this.chunks = []
    this.held = 0
    this.need = 0
    this.arrays = []
    this.missing = []
    this.refused = null
  }

  feed (chunk: Buffer): void {
    let data = chunk
    if (this.held > 0) {
      this.chunks.push(chunk)
      this.held += chunk.length
      if (this.held < this.need) return
      // A line still without its end (a long error or status text) is joined and scanned again
      // only once a chunk may end it, not at every chunk: that was quadratic in the line's length.
      if (this.need === LINE && chunk.indexOf(CR) < 0 && chunk.indexOf(LF) < 0) {
        this.checkOpenLine()
        return
      }
      data = Buffer.concat(this.chunks, this.held)
      this.chunks = []
      this.held = 0
      this.need = 0
    }
    let at = 0
    while (at < data.length) {
      // Arrays begun already: the item parsed next is the next of the innermost.
      const open = this.arrays.length
      if (open === 0) this.bytes = this.binary()
      const end = this.parse(data, at)
      if (end < 0) break
      at = end
      // An array header: its items come next.
      if (this.arrays.length > open) continue
      let value = this.value
      let depth = open
      // A whole item: into the array waiting for it, and each array it fills into its own.
      while (depth > 0) {
        const items = this.arrays[depth - 1] as Reply[]
        items.push(value)
        if (--(this.missing[depth - 1] as number) > 0) break
        this.arrays.pop()
        this.missing.pop()
        depth--
        value = items
      }
      if (depth === 0) {
        const refused = this.refused
        this.refused = null
        this.onReply(refused ?? value)
      }
    }
    if (at < data.length) {
      const rest = data.subarray(at)
      this.chunks = [rest]
      this.held = rest.length
    }
  }

  /** The bounds parse() puts on a line, for one held without its end: refused once past them. */
  private checkOpenLine (): void {
    const type = (this.chunks[0] as Buffer)[0]
    if (type === 0x3a || type === 0x24 || type === 0x2a) {
      if (this.held > MAX_HEADER) throw malformed('a header longer than a 64-bit number')
    } else if (this.held > MAX_BULK) {
      throw malformed('a line longer than 512 MiB')
    }
  }

  /**
   * Parses the item at `at`: a whole one into `value`, or the header of an array with items, which
   * is pushed onto `arrays`. Returns where it ends, or -1 if it is not all here.
   */
  private parse (data: Buffer, at: number): number {
    const type = data[at]
    const cr = data.indexOf(CR, at + 1)
    // Checked before its end comes too: digits without end would be held until the deadline.
    if ((cr < 0 ? data.length : cr) - at > MAX_HEADER && (type === 0x3a || type === 0x24 || type === 0x2a)) {
      throw malformed('a header longer than a 64-bit number')
    }
    if (cr < 0 || cr + 1 >= data.length) {
      // Known before the line ends: bytes that start no reply are not held for it.
      if (type !== 0x2b && type !== 0x2d && type !== 0x3a && type !== 0x24 && type !== 0x2a) throw malformed(`unexpected type byte ${String(type)}`)
      this.need = LINE
      return -1
    }
    if (data[cr + 1] !== LF) throw malformed('a line not ended by CRLF')
    const next = cr + 2
    switch (type) {
      case 0x2b: // +
        this.value = data.toString('utf8', at + 1, cr)
        return next
      case 0x2d: // -
        this.value = new ReplyError(data.toString('utf8', at + 1, cr))
        return next
      case 0x3a: { // :
        const value = integer(data, at + 1, cr)
        if (!Number.isSafeInteger(value)) this.refused ??= unsafe()
        this.value = value
        return next
      }
      case 0x24: { // $
        const length = size(data, at + 1, cr, MAX_BULK, 'a bulk length over 512 MiB')
        if (length < 0) {
          this.value = null
          return next
        }
        const end = next + length
        if (end + 2 > data.length) {
          this.need = end + 2 - at
          return -1
        }
        if (data[end] !== CR || data[end + 1] !== LF) throw malformed('a bulk string longer than its length')
        this.value = this.bytes ? Buffer.from(data.subarray(next, end)) : data.toString('utf8', next, end)
        return end + 2
      }
      case 0x2a: { // *
        const count = size(data, at + 1, cr, MAX_COUNT, 'an array of more than 2^32-1 items')
        if (count < 1) {
          this.value = count < 0 ? null : []
          return next
        }
        // Filled as its items come (never sized by the header: a count is not a promise of bytes).
        this.arrays.push([])
        this.missing.push(count)
        return next
      }
      default:
        throw malformed(`unexpected type byte ${String(type)}`)
    }
  }
}

/** The decimal integer in `data` between `from` and `to` (a RESP header's number). */
function integer (data: Buffer, from: number, to: number): number {
  const negative = data[from] === 0x2d
  let at = negative ? from + 1 : from
  if (at === to) throw malformed('a header without its number')
  let value = 0
  for (; at < to; at++) {
    const digit = (data[at] as number) - 48
    if (digit < 0 || digit > 9) throw malformed('a header whose number is not decimal')
    value = value * 10 + digit
  }
  return negative ? -value : value
}

/** A bulk string's length or an array's count: -1 (null), or from 0 to `max` (else `over` says why not). */
function size (data: Buffer, from: number, to: number, max: number, over: string): number {
  const value = integer(data, from, to)
  if (value < -1) throw malformed('a negative length')
  if (value > max) throw malformed(over)
  return value
}

/** See ReplyReader: coded as malformed bytes are, but for this reply alone. */
function unsafe (): Error {
  const err = new DecodeError()
  err.cause = new Error('an integer reply beyond Number.MAX_SAFE_INTEGER')
  return err
}
