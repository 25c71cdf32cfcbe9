import { connect } from 'node:net'

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
