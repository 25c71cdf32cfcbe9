import type { Delivery } from './envelope.js'
import type { Listener } from './hub.js'
import type { BroadcastSocket } from './types.js'

const OPEN = 1
const CLOSED = 3
export const GOING_AWAY = 1001
export const POLICY_VIOLATION = 1008
export const MESSAGE_TOO_BIG = 1009

/**
 * A socket as a hub listener. Before each send it checks how much the socket has buffered: a
 * client that reads slower than we publish is terminated (its buffer is already full, so a close
 * frame would not get through) rather than buffered without bound.
 */
export class SocketListener implements Listener {
  readonly socket: BroadcastSocket
  readonly channels: string[]
  private readonly maxBufferedBytes: number
  private readonly onSlow: (listener: SocketListener) => void

  constructor (socket: BroadcastSocket, channels: string[], maxBufferedBytes: number, onSlow: (listener: SocketListener) => void) {
    this.socket = socket
    this.channels = channels
    this.maxBufferedBytes = maxBufferedBytes
    this.onSlow = onSlow
  }

  deliver (delivery: Delivery): boolean {
    if (this.socket.readyState !== OPEN) return false
    if (this.socket.bufferedAmount > this.maxBufferedBytes) {
      this.onSlow(this)
      return false
    }
    this.socket.send(delivery.frame(), { binary: false })
    return true
  }
}

/**
 * Every attached socket, with the detach of each of its attachments (a socket may be attached more
 * than once, to different channels), so that shutdown can close them all with 1001.
 */
export class SocketRegistry {
  private readonly sockets = new Map<BroadcastSocket, Set<() => void>>()
  get size (): number {
    return this.sockets.size
  }

  add (socket: BroadcastSocket, detach: () => void): void {
    const detaches = this.sockets.get(socket)
    if (detaches === undefined) this.sockets.set(socket, new Set([detach]))
    else detaches.add(detach)
  }

  /** Called once per attachment (its detach runs once): the socket is always here. */
  delete (socket: BroadcastSocket, detach: () => void): void {
    const detaches = this.sockets.get(socket) as Set<() => void>
    detaches.delete(detach)
    if (detaches.size === 0) this.sockets.delete(socket)
  }

  /** Runs every detach of an attached socket (each also deletes itself here). */
  detach (socket: BroadcastSocket): void {
    for (const detach of [...this.sockets.get(socket) as Set<() => void>]) detach()
  }

  /**
   * Detaches every socket and closes it with 1001 (going away). A client that does not answer the
   * close handshake within `graceMs` is terminated: otherwise its TCP link would hold the server's
   * close (and the pod's shutdown) for ws's 30 s close timeout.
   */
  closeAll (graceMs: number): void {
    const closing = [...this.sockets.keys()]
    for (const socket of closing) {
      this.detach(socket)
      socket.close(GOING_AWAY, 'server shutting down')
    }
    if (closing.length === 0) return
    setTimeout(() => {
      for (const socket of closing) if (socket.readyState !== CLOSED) socket.terminate()
    }, graceMs).unref()
  }
}
