import { createServer, connect, type Server, type Socket } from 'node:net'

interface Link { client: Socket, upstream: Socket, subscriber: boolean, frozen: boolean }

/**
 * A TCP proxy in front of a redis-server that can black-hole the subscriber connections (those
 * that sent SUBSCRIBE): both ends stay open and nothing passes, the way a half-open link or a
 * stuck middlebox looks. Neither ioredis nor Redis notices; only a heartbeat can.
 */
export class FreezingProxy {
  readonly port: number
  private readonly server: Server
  private readonly links: Set<Link>

  private constructor (server: Server, port: number, links: Set<Link>) {
    this.server = server
    this.port = port
    this.links = links
  }

  static async start (targetPort: number): Promise<FreezingProxy> {
    const links = new Set<Link>()
    const server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1')
      const link: Link = { client, upstream, subscriber: false, frozen: false }
      links.add(link)
      client.on('data', (chunk: Buffer) => {
        if (/SUBSCRIBE/i.test(chunk.toString('latin1'))) link.subscriber = true
        if (!link.frozen) upstream.write(chunk)
      })
      upstream.on('data', (chunk: Buffer) => { if (!link.frozen) client.write(chunk) })
      const end = (): void => {
        links.delete(link)
        client.destroy()
        upstream.destroy()
      }
      client.on('close', end).on('error', end)
      upstream.on('close', end).on('error', end)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return new FreezingProxy(server, (server.address() as { port: number }).port, links)
  }

  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** Black-holes every subscriber connection open now; returns how many. */
  freezeSubscribers (): number {
    let frozen = 0
    for (const link of this.links) {
      if (link.subscriber && !link.frozen) {
        link.frozen = true
        frozen++
      }
    }
    return frozen
  }

  async close (): Promise<void> {
    for (const link of this.links) {
      link.client.destroy()
      link.upstream.destroy()
    }
    await new Promise((resolve) => this.server.close(resolve))
  }
}
