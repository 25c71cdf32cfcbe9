import { once } from 'node:events'
import { connect } from 'node:net'

// Redis's MONITOR, on a plain socket rather than ioredis's monitor mode, which throws on lines that
// arrive with its MONITOR reply or after it disconnects. Each line: +<time> [<db> <source>]
// "<command>" ..., the source being "lua" for a command run inside a script, else the client's
// address. Tests count round trips with it, the benchmark the commands run inside scripts.
const LINE = /^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]*)"/

/** Told the source and name (lower case) of each command Redis runs. */
export type MonitorSeen = (source: string, name: string) => void

/**
 * Watches the Redis at host:port while `work` runs, telling `seen` each command, and returns once
 * the lines stop coming (none for `quietMs`): MONITOR's lines trail the commands they show.
 */
export async function monitorWhile<T> (host: string, port: number, seen: MonitorSeen, work: () => Promise<T>, quietMs = 50): Promise<T> {
  let lines = 0
  const socket = connect({ host, port })
  socket.on('error', () => {})
  socket.setEncoding('utf8')
  let buffered = ''
  socket.on('data', (chunk: string) => {
    const parts = (buffered + chunk).split('\r\n')
    buffered = parts.pop() as string
    for (const line of parts) {
      const match = LINE.exec(line)
      if (match === null) continue
      lines++
      seen(match[1] as string, (match[2] as string).toLowerCase())
    }
  })
  try {
    await once(socket, 'connect')
    socket.write('MONITOR\r\n')
    await once(socket, 'data')
    const result = await work()
    for (let last = -1; last !== lines;) {
      last = lines
      await new Promise((resolve) => setTimeout(resolve, quietMs))
    }
    return result
  } finally {
    socket.destroy()
  }
}
