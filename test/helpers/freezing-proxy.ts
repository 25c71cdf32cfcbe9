import { createServer, connect, type Server, type Socket } from 'node:net'

interface Link { client: Socket, upstream: Socket, subscriber: boolean, frozen: boolean, held?: Buffer[] }

/**
 * A TCP proxy in front of a redis-server that can black-hole the subscriber connections (those
 * that sent SUBSCRIBE): both ends stay open and nothing passes, the way a half-open link or a
 * stuck middlebox looks. Neither ioredis nor Redis notices; only a heartbeat can. It can also
 * refuse new connections, so a subscriber forced to reconnect stays away until `acceptNew()`.
 */
export class FreezingProxy {
  private constructor (private readonly server: Server, readonly port: number, private readonly links: Set<Link>, private readonly state: { refusing: boolean }) {}

  static async start (targetPort: number): Promise<FreezingProxy> {
    const links = new Set<Link>()
    const state = { refusing: false }
    const server = createServer((client) => {
      if (state.refusing) {
        client.destroy()
        return
      }
      const upstream = connect(targetPort, '127.0.0.1')
      const link: Link = { client, upstream, subscriber: false, frozen: false }
      links.add(link)
      client.on('data', (chunk: Buffer) => {
        if (/SUBSCRIBE/i.test(chunk.toString('latin1'))) link.subscriber = true
        if (!link.frozen) upstream.write(chunk)
      })
      upstream.on('data', (chunk: Buffer) => {
        if (link.frozen) return
        if (link.held !== undefined) link.held.push(chunk)
        else client.write(chunk)
      })
      const end = (): void => {
        links.delete(link)
        client.destroy()
        upstream.destroy()
      }
      client.on('close', end).on('error', end)
      upstream.on('close', end).on('error', end)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return new FreezingProxy(server, (server.address() as { port: number }).port, links, state)
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

  /** Black-holes every connection open now, subscriber or not (a partition); returns how many. */
  freezeAll (): number {
    let frozen = 0
    for (const link of this.links) {
      if (!link.frozen) {
        link.frozen = true
        frozen++
      }
    }
    return frozen
  }

  /** Closes every connection open now, both ends (a reset link): calls on them fail at once. Returns how many. */
  dropAll (): number {
    const links = [...this.links]
    for (const link of links) {
      this.links.delete(link)
      link.client.destroy()
      link.upstream.destroy()
    }
    return links.length
  }

  /**
   * Holds back Redis's replies on every command connection open now (not the subscribers'): the
   * commands still reach Redis and run, but their replies wait until `releaseReplies()`, the way a
   * slow link delays them. Returns how many connections.
   */
  holdReplies (): number {
    let held = 0
    for (const link of this.links) {
      if (!link.subscriber && link.held === undefined) {
        link.held = []
        held++
      }
    }
    return held
  }

  /** Bytes of replies held back so far. */
  get heldBytes (): number {
    let bytes = 0
    for (const link of this.links) for (const chunk of link.held ?? []) bytes += chunk.length
    return bytes
  }

  /** Delivers the replies held back, in order, and passes later ones straight through. */
  releaseReplies (): void {
    for (const link of this.links) {
      const held = link.held
      link.held = undefined
      for (const chunk of held ?? []) link.client.write(chunk)
    }
  }

  /** Closes every new connection at once, until `acceptNew()`. */
  refuseNew (): void {
    this.state.refusing = true
  }

  acceptNew (): void {
    this.state.refusing = false
  }

  async close (): Promise<void> {
    for (const link of this.links) {
      link.client.destroy()
      link.upstream.destroy()
    }
    await new Promise((resolve) => this.server.close(resolve))
  }
}
