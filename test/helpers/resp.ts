import { connect, createServer, type Socket } from 'node:net'

/**
 * Sends one inline command on a fresh socket and returns the raw reply text. Used to probe
 * servers without an ioredis client (whose reconnect logic would hide what we want to see).
 */
export async function rawCommand (port: number, command: string, timeoutMs = 1000): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' })
    let reply = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no reply to ${command} on port ${port} within ${timeoutMs}ms`))
    }, timeoutMs)
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(command + '\r\n'))
    socket.on('data', (chunk: string) => {
      reply += chunk
      if (reply.endsWith('\r\n')) {
        clearTimeout(timer)
        socket.end()
        resolve(reply)
      }
    })
    socket.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
  })
}

/** A fake Redis for protocol-garbage tests: what it was sent, and a way to stop it. */
export interface FakeRedis {
  readonly port: number
  /** Every command received, as its words, in order. */
  readonly commands: string[][]
  close: () => Promise<void>
}

/**
 * A TCP server that speaks just enough RESP2 for ioredis to connect (INFO answers "loading:0",
 * anything else +OK) and answers each command `answer` knows with the raw bytes it returns: for
 * tests of what a broken or hostile server can send, which no real Redis would. Commands are read
 * as ioredis writes them, arrays of bulk strings.
 */
export async function fakeRedis (answer: (words: string[]) => string | undefined): Promise<FakeRedis> {
  const commands: string[][] = []
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let pending = ''
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1')
      for (;;) {
        const command = readCommand(pending)
        if (command === null) return
        pending = pending.slice(command.length)
        commands.push(command.words)
        const name = (command.words[0] ?? '').toLowerCase()
        socket.write(answer(command.words) ?? (name === 'info' ? '$9\r\nloading:0\r\n' : '+OK\r\n'), 'latin1')
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    commands,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** The first command in `text` (`*N` then N bulk strings) and its length in characters, or null if it is not all here. */
function readCommand (text: string): { words: string[], length: number } | null {
  const header = /^\*(\d+)\r\n/.exec(text)
  if (header === null) return null
  let at = header[0].length
  const words: string[] = []
  for (let i = 0; i < Number(header[1]); i++) {
    const bulk = /^\$(\d+)\r\n/.exec(text.slice(at))
    if (bulk === null) return null
    const start = at + bulk[0].length
    const end = start + Number(bulk[1])
    if (end + 2 > text.length) return null
    words.push(text.slice(start, end))
    at = end + 2
  }
  return { words, length: at }
}
