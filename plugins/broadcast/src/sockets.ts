import type { Delivery } from './envelope.js'
import type { Listener } from './hub.js'
import type { PingSweep } from './ping.js'
import type { BroadcastSocket } from './types.js'

const OPEN = 1
const CLOSED = 3
export const GOING_AWAY = 1001
export const POLICY_VIOLATION = 1008
export const MESSAGE_TOO_BIG = 1009

/** Why a socket is dropped: it reads too slowly, its send (or ping) threw, or it did not answer a ping. */
export type DropReason = 'slow' | 'send-failed' | 'ping-failed' | 'unresponsive'

/**
 * A socket as a hub listener. Before each send it checks how much the socket has buffered: a
 * client that reads slower than we publish is terminated (its buffer is already full, so a close
 * frame would not get through) rather than buffered without bound. A socket whose send throws (one
 * of the app's own, passed to attach()) is dropped the same way: the throw must not stop the
 * message on its way to the other listeners, nor reach publish() (which rejects only for bad
 * input) or the subscriber's message event (where it would escape as an uncaught exception).
 */
export class SocketListener implements Listener {
  readonly socket: BroadcastSocket
  /** The smallest any attachment of the socket asked for: the one listener serves them all. */
  maxBufferedBytes: number
  private readonly onDrop: (listener: SocketListener, reason: DropReason, err?: unknown) => void

  constructor (socket: BroadcastSocket, maxBufferedBytes: number, onDrop: (listener: SocketListener, reason: DropReason, err?: unknown) => void) {
    this.socket = socket
    this.maxBufferedBytes = maxBufferedBytes
    this.onDrop = onDrop
  }

  deliver (delivery: Delivery): boolean {
    if (this.socket.readyState !== OPEN) return false
    if (this.socket.bufferedAmount > this.maxBufferedBytes) {
      this.onDrop(this, 'slow')
      return false
    }
    try {
      this.socket.send(delivery.frame(), { binary: false })
    } catch (err) {
      this.onDrop(this, 'send-failed', err)
      return false
    }
    return true
  }
}

/**
 * One socket's place in the hub, however many times it was attached (once per room, say): a single
 * listener, so a channel two attachments name is sent once, and a single 'close' listener, so
 * attaching again and again grows nothing on the socket. `channels` counts the attachments holding
 * each channel: the socket leaves a channel with the last of them. maxChannels bounds both the
 * number of channels and the number of live attachments (`detaches`), so neither grows without
 * bound however often one socket is attached again.
 */
export class Membership {
  readonly listener: SocketListener
  readonly channels = new Map<string, number>()
  /** The detach of each live attachment: at most maxChannels of them (see Broadcaster.attach). */
  readonly detaches = new Set<() => void>()
  readonly onClose: () => void
  /** The attach() ping sweep the socket is in (that of the smallest interval asked), if any. */
  sweep: PingSweep | undefined
  pingMs = 0

  constructor (listener: SocketListener, onClose: () => void) {
    this.listener = listener
    this.onClose = onClose
  }
}

/** Every attached socket with its membership, so that shutdown can close them all with 1001. */
export class SocketRegistry {
  private readonly sockets = new Map<BroadcastSocket, Membership>()
  /**
   * Sockets of a websocket() route whose channels() has not answered yet: not attached, but open.
   * Shutdown closes them too, else they got @fastify/websocket's close without a code, and a dead
   * client among them held the close for ws's 30 s close timeout.
   */
  private readonly waiting = new Set<BroadcastSocket>()

  get size (): number {
    return this.sockets.size
  }

  get (socket: BroadcastSocket): Membership | undefined {
    return this.sockets.get(socket)
  }

  /** A socket's first attachment: its membership, detached whole when the socket closes. */
  add (socket: BroadcastSocket, listener: SocketListener): Membership {
    const member = new Membership(listener, () => this.detach(socket))
    this.sockets.set(socket, member)
    socket.once('close', member.onClose)
    return member
  }

  /** Called once the socket's last attachment is detached: its 'close' listener goes too. */
  delete (socket: BroadcastSocket, member: Membership): void {
    this.sockets.delete(socket)
    socket.removeListener?.('close', member.onClose)
  }

  /** Runs every detach of an attached socket (the last one also deletes it here). */
  detach (socket: BroadcastSocket): void {
    const member = this.sockets.get(socket)
    if (member !== undefined) for (const detach of [...member.detaches]) detach()
  }

  /** Holds a socket until its channels are known; the returned function (idempotent) lets go. */
  wait (socket: BroadcastSocket & Required<Pick<BroadcastSocket, 'removeListener'>>): () => void {
    const done = (): void => {
      this.waiting.delete(socket)
      socket.removeListener('close', done)
    }
    this.waiting.add(socket)
    socket.once('close', done)
    return done
  }

  /**
   * Detaches every socket and closes it with 1001 (going away). A client that does not answer the
   * close handshake within `graceMs` is terminated: otherwise its TCP link would hold the server's
   * close (and the pod's shutdown) for ws's 30 s close timeout.
   */
  closeAll (graceMs: number): void {
    const closing = [...this.sockets.keys(), ...this.waiting]
    this.waiting.clear()
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
