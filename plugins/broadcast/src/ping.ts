import type { BroadcastSocket } from './types.js'

const OPEN = 1

/** The part of a ws WebSocket the ping sweep uses on top of the bridge's. */
export interface PingableSocket extends BroadcastSocket {
  ping: () => void
  on: (event: 'pong' | 'close', listener: (this: PingableSocket) => void) => unknown
  removeListener: (event: 'pong' | 'close', listener: (this: PingableSocket) => void) => unknown
}

/**
 * The WebSocket heartbeat of one `websocket()` route: one timer for all of its sockets (started
 * with the first, cleared with the last and at shutdown, never holding the process open). Each tick
 * pings every open socket; one that has not answered the previous tick's ping with a pong (any pong:
 * browsers and ws answer pings by themselves) is handed to `onUnresponsive`. A client that vanished
 * without a FIN is otherwise kept, counted and sent every message until the kernel gives up, and
 * the pings keep a quiet socket from being cut by a proxy's idle timeout.
 */
export class PingSweep {
  /** Each socket of the route, and whether it answered since it was last pinged. */
  private readonly sockets = new Map<PingableSocket, boolean>()
  private timer: ReturnType<typeof setInterval> | undefined
  private readonly intervalMs: number
  /** Called before a socket is pinged: true when it was dropped instead (a slow client). */
  private readonly dropBeforePing: (socket: PingableSocket) => boolean
  /** A socket that did not answer, or (`pingFailed`) whose ping threw. */
  private readonly onUnresponsive: (socket: PingableSocket, pingFailed?: { err: unknown }) => void
  /** Called once the last socket has left (and the timer is cleared). */
  private readonly onIdle: (sweep: PingSweep) => void
  // Shared by every socket (ws calls a listener with the socket as `this`): no closure per socket.
  private readonly answered: (this: PingableSocket) => void
  private readonly closed: (this: PingableSocket) => void

  constructor (intervalMs: number, dropBeforePing: (socket: PingableSocket) => boolean, onUnresponsive: (socket: PingableSocket, pingFailed?: { err: unknown }) => void, onIdle: (sweep: PingSweep) => void = () => undefined) {
    this.intervalMs = intervalMs
    this.dropBeforePing = dropBeforePing
    this.onUnresponsive = onUnresponsive
    this.onIdle = onIdle
    const sockets = this.sockets
    const remove = (socket: PingableSocket): void => this.remove(socket)
    // Taken back whenever the socket leaves the sweep, so a late pong cannot put it back.
    this.answered = function (this: PingableSocket) {
      sockets.set(this, true)
    }
    this.closed = function (this: PingableSocket) {
      remove(this)
    }
  }

  add (socket: PingableSocket): void {
    // Counted as answered: its first ping goes out at the next tick, and it has a whole interval to answer.
    this.sockets.set(socket, true)
    socket.on('pong', this.answered)
    socket.on('close', this.closed)
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.intervalMs)
      this.timer.unref()
    }
  }

  /** Takes a socket out (its listeners too), if it is in; the timer goes with the last one. */
  delete (socket: PingableSocket): void {
    if (this.sockets.has(socket)) this.remove(socket)
  }

  private remove (socket: PingableSocket): void {
    this.forget(socket)
    if (this.sockets.size === 0) {
      this.stop()
      this.onIdle(this)
    }
  }

  private forget (socket: PingableSocket): void {
    this.sockets.delete(socket)
    socket.removeListener('pong', this.answered)
    socket.removeListener('close', this.closed)
  }

  /** O(sockets): one ping frame (2 bytes) to each open socket, or its drop. */
  private tick (): void {
    for (const [socket, answered] of this.sockets) {
      // Closing already: its close handshake (or ws's 30 s close timeout) ends it, then 'close' removes it.
      if (socket.readyState !== OPEN) continue
      // Past maxBufferedBytes first: its pong may be stuck behind what it has not read yet.
      if (this.dropBeforePing(socket)) {
        // Dropping it may have taken it out already (an attached socket leaves with its last attachment).
        this.delete(socket)
      } else if (!answered) {
        this.remove(socket)
        this.onUnresponsive(socket)
      } else {
        this.sockets.set(socket, false)
        try {
          socket.ping()
        } catch (err) {
          // A socket of the app's own (attach()) whose ping throws, as its send may: out of this
          // timer the throw was an uncaught exception (the process down), and the sockets after it
          // went unpinged. It is dropped instead, as one whose send throws is.
          this.remove(socket)
          this.onUnresponsive(socket, { err })
        }
      }
    }
  }

  /** Clears the timer and forgets every socket (at shutdown, or once the route has no socket left). */
  stop (): void {
    for (const socket of this.sockets.keys()) this.forget(socket)
    clearInterval(this.timer)
    this.timer = undefined
  }
}
