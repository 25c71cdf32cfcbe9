import { connect } from 'node:net'

// Benchmark reference only, never a product: the least a Node process can do to send a command to
// Redis and read its reply, to measure what a round trip costs without any client library. One
// connection, no reconnects, no timeouts, no AUTH or SELECT; replies are read as latin1 (one
// character per byte, so bulk lengths are character counts), which is right for the ASCII the
// floor servers store. Commands of one event-loop turn leave in one write, as senderFor's do.

type Reply = string | number | null
interface Waiter { resolve: (reply: Reply) => void, reject: (err: Error) => void }

export type RespSend = (args: Array<string | number>) => Promise<Reply>

export async function respFloorClient (redisUrl: string): Promise<RespSend> {
  const { hostname, port } = new URL(redisUrl)
  const socket = connect(Number(port), hostname)
  socket.setNoDelay(true)
  socket.setEncoding('latin1')
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  const waiting: Waiter[] = []
  let pending = ''
  socket.on('data', (chunk: string) => {
    pending += chunk
    pending = pending.slice(parseReplies(pending, waiting))
  })
  socket.on('error', (err) => { for (const waiter of waiting.splice(0)) waiter.reject(err) })

  let out = ''
  const flush = (): void => {
    socket.write(out)
    out = ''
  }
  return async (args) => await new Promise<Reply>((resolve, reject) => {
    if (out === '') setImmediate(flush)
    out += `*${args.length}\r\n`
    for (const arg of args) {
      const text = String(arg)
      out += `$${text.length}\r\n${text}\r\n`
    }
    waiting.push({ resolve, reject })
  })
}

/** Settles a waiter for each whole reply at the start of `text`; returns how much was consumed. */
function parseReplies (text: string, waiting: Waiter[]): number {
  let at = 0
  for (;;) {
    const end = text.indexOf('\r\n', at)
    if (end === -1) return at
    const type = text[at]
    const line = text.slice(at + 1, end)
    if (type === '$') {
      const length = Number(line)
      if (length === -1) {
        (waiting.shift() as Waiter).resolve(null)
        at = end + 2
        continue
      }
      if (end + 2 + length + 2 > text.length) return at
      ;(waiting.shift() as Waiter).resolve(text.slice(end + 2, end + 2 + length))
      at = end + 2 + length + 2
    } else {
      const waiter = waiting.shift() as Waiter
      if (type === '-') waiter.reject(new Error(line))
      else waiter.resolve(type === ':' ? Number(line) : line)
      at = end + 2
    }
  }
}
