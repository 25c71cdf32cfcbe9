import { connect } from 'node:net'

export interface RawResponse { status: number, body: string }

/**
 * One HTTP/1.1 request written byte for byte (repeated header lines, tabs, odd values intact), from
 * a chosen local address so the server sees that socket peer.
 */
export async function rawRequest (options: { host: string, port: number, localAddress: string, path: string, headers: Array<[string, string]>, hostLine?: boolean, version?: '1.0' | '1.1', method?: string }): Promise<RawResponse> {
  // hostLine: false sends only the Host lines given in `headers`; method is written as given, with
  // the space(s) after it (default 'GET ').
  const head = [`${options.method ?? 'GET '}${options.path} HTTP/${options.version ?? '1.1'}`, ...(options.hostLine === false ? [] : ['Host: differential.test']), ...options.headers.map(([name, value]) => `${name}: ${value}`), 'Connection: close', '', '']
  return await new Promise((resolve, reject) => {
    const socket = connect({ host: options.host, port: options.port, localAddress: options.localAddress })
    const chunks: Buffer[] = []
    socket.setTimeout(30_000, () => socket.destroy(new Error('no response within 30s')))
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.once('error', reject)
    socket.once('end', () => {
      const text = Buffer.concat(chunks).toString('latin1')
      const split = text.indexOf('\r\n\r\n')
      resolve({ status: Number(text.slice(9, 12)), body: split < 0 ? '' : text.slice(split + 4) })
    })
    socket.write(head.join('\r\n'))
  })
}
