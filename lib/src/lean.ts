import type { Socket } from 'node:net'
import type { Redis } from 'ioredis'
import { encodeCommand, ReplyError, ReplyReader, type Reply } from './resp.js'

type Arg = string | number

/** One command waiting for its reply: a promise, settled once, shaped as Deadlines expects. */
export class Call<T = unknown> {
  isSettled = false
  readonly promise: Promise<T>
  private resolveWith!: (value: T) => void
  private rejectWith!: (err: Error) => void

  /**
   * `binary`: bulk replies as bytes rather than text. `code`: what the promise rejects with, given
   * the error (coding here spares every command a promise of its own to code it).
   */
  constructor (readonly binary: boolean, private readonly code?: (err: Error) => Error) {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolveWith = resolve
      this.rejectWith = reject
    })
  }

  /** `reply`, or the error it is: Redis's (ReplyError) or the reader's refusal of it (coded). */
  settle (reply: Reply | Error): void {
    if (this.isSettled) return
    this.isSettled = true
    if (reply instanceof Error) this.fail(reply)
    else this.resolveWith(reply as T)
  }

  reject (err: Error): void {
    if (this.isSettled) return
    this.isSettled = true
    this.fail(err)
  }

  private fail (err: Error): void {
    this.rejectWith(this.code === undefined ? err : this.code(err))
  }
}

// ioredis's own texts for the same cases, so that call.ts codes them as it codes ioredis's.
const CLOSED = 'Connection is closed.'
const NOT_WRITEABLE = "Stream isn't writeable and enableOfflineQueue options is false"
// What reconnectOnError answers to have ioredis reconnect.
const RECONNECT = new Set<unknown>([true, 1, 2])

/** The link on each client that has one, for beforeQuit. */
const links = new WeakMap<object, LeanLink>()

/**
 * `client` is about to send QUIT (closeClient): its link writes at once the commands it holds for
 * this turn, which Redis then answers ahead of QUIT, and refuses any sent after. Written behind
 * QUIT, a command got no reply of its own: QUIT's "OK" was taken for it.
 */
export function beforeQuit (client: object): void {
  links.get(client)?.quitting()
}

/**
 * A connection of the sender's own, on which it writes RESP and parses replies itself, without
 * ioredis's command object, queue and decoder per command. On the session-modify benchmark of
 * 2026-12-03 the floor that sends the same two commands went from 0.56x to 0.65x bare Fastify
 * with it, about what the floor with no client library at all reaches.
 *
 * ioredis still does everything around it: it opens the connection (TLS, Sentinel, AUTH, SELECT,
 * its name, the ready check) and reopens it with the client's retry strategy (and when its
 * reconnectOnError says so). Once the connection is ready it is taken over: ioredis's reply decoder
 * is unhooked from the socket, and ioredis sends nothing more on it (nobody else uses this client)
 * until QUIT when it closes.
 *
 * Commands wait while the first connection is being made, for the deadline queue to bound. Once
 * that attempt has failed, and whenever the connection is down later, they fail at once with
 * ioredis's own error if the client has no offline queue (as ours have), and otherwise wait for
 * the next connection, unless their deadline failed them meanwhile. Commands in flight when it
 * drops fail, and so do those of the same turn not yet written (ioredis would resend them; the
 * caller's bound would fail them anyway).
 */
export class LeanLink {
  private socket: Socket | null = null
  private waiting: Array<Call | null> = []
  private head = 0
  /** Commands of this event-loop turn, not written yet: one write at setImmediate. */
  private out = ''
  /**
   * Commands sent while there is no connection, one string each, in the order of `waiting`: those
   * still waiting when it comes go out on it, those failed by their deadline meanwhile are dropped.
   */
  private offline: string[] = []
  /** Commands written and not answered yet: the replies that can come. */
  private inFlight = 0
  private flushing = false
  private everReady = false
  private ended = false
  private readonly reader: ReplyReader

  constructor (readonly client: Redis) {
    links.set(client, this)
    this.reader = new ReplyReader((reply) => { this.onReply(reply) }, () => this.waiting[this.head]?.binary ?? false)
    client.on('ready', this.takeOver)
    // Between attempts: the waiting commands fail now rather than at their deadline, unless
    // the client queues commands while offline.
    client.on('reconnecting', () => {
      if (this.queuesOffline()) this.dropExpired()
      else this.failAll(NOT_WRITEABLE)
    })
    client.on('end', () => {
      this.ended = true
      this.failAll(CLOSED)
    })
  }

  /** The connection in use (null while there is none), for knowing what it was sent already. */
  get connection (): object | null {
    return this.socket
  }

  send<T> (call: Call<T>, name: string, args: readonly Arg[]): Call<T> {
    if (this.socket === null && (this.ended || (!this.queuesOffline() && !this.firstConnect()))) {
      call.reject(new Error(this.ended ? CLOSED : NOT_WRITEABLE))
      return call
    }
    this.waiting.push(call as Call)
    if (this.socket === null) {
      this.offline.push(encodeCommand('', name, args))
      return call
    }
    this.out = encodeCommand(this.out, name, args)
    if (!this.flushing) {
      this.flushing = true
      setImmediate(this.flush)
    }
    return call
  }

  /** See beforeQuit. What waits for a connection stays unsent, and fails when the client ends. */
  quitting (): void {
    this.flush()
    // Its status may read ready before its 'ready' event comes: a takeover then would write behind QUIT.
    this.client.off('ready', this.takeOver)
    this.ended = true
    // Sends fail from now on; the replies to what was written still come on the socket.
    this.socket = null
  }

  /** Forgets the offline commands failed by their deadline: a long outage holds only the last bound's. */
  private dropExpired (): void {
    const calls: Call[] = []
    const texts: string[] = []
    for (let i = 0; i < this.offline.length; i++) {
      const call = this.waiting[i] as Call
      if (call.isSettled) continue
      calls.push(call)
      texts.push(this.offline[i] as string)
    }
    this.waiting = calls
    this.offline = texts
  }

  /** Still making the first connection: commands wait for it (an app's first requests may come before it is up). */
  private firstConnect (): boolean {
    const status = this.client.status
    return !this.everReady && (status === 'wait' || status === 'connecting' || status === 'connect')
  }

  private queuesOffline (): boolean {
    return this.client.options.enableOfflineQueue !== false
  }

  private readonly flush = (): void => {
    this.flushing = false
    if (this.socket === null || this.out === '') return
    this.socket.write(this.out)
    this.out = ''
    this.inFlight = this.waiting.length - this.head
  }

  private readonly takeOver = (): void => {
    const socket = this.client.stream as Socket
    this.everReady = true
    // ioredis's decoder would find replies to commands it never sent. Nothing else of ioredis
    // listens for data here (no socketTimeout: such a client is not given a link, see send.ts).
    socket.removeAllListeners('data')
    this.reader.reset()
    socket.on('data', (chunk: Buffer) => {
      try {
        this.reader.feed(chunk)
      } catch (err) {
        // Bytes that are not RESP2 (a command switched the protocol, a broken or hostile server:
        // SCALEOUT_ERR_DECODE): nothing after them can be matched to its command. Dropped like a
        // broken connection, the error logged as its 'error'; ioredis opens a new one.
        socket.destroy(err as Error)
      }
    })
    socket.once('close', () => { this.lost() })
    this.socket = socket
    // What waited for the connection goes out now, but for what its deadline failed meanwhile.
    this.dropExpired()
    this.out = this.offline.join('')
    this.offline = []
    this.flush()
  }

  /** The connection closed: its commands, written or about to be, get no reply now. */
  private lost (): void {
    this.socket = null
    this.failAll(CLOSED)
  }

  /** Fails every command not answered yet; only while there is no connection. */
  private failAll (message: string): void {
    const calls = this.waiting.slice(this.head)
    this.waiting = []
    this.head = 0
    this.inFlight = 0
    this.out = ''
    this.offline = []
    for (const call of calls) (call as Call).reject(new Error(message))
  }

  private onReply (reply: Reply | Error): void {
    // A reply with no command of ours is QUIT's, which ioredis sends as it closes the client.
    if (this.inFlight === 0) return
    this.inFlight--
    const call = this.waiting[this.head] as Call
    this.waiting[this.head++] = null
    if (this.head === this.waiting.length) {
      this.waiting = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.head)
      this.head = 0
    }
    call.settle(reply)
    if (reply instanceof ReplyError) this.reconnectOnError(reply)
  }

  /**
   * The client's `reconnectOnError` (for READONLY after a failover, say) as ioredis applies it:
   * true, 1 or 2 reopens the connection. The command itself fails either way, even for 2, with
   * which ioredis would send it again on the new connection.
   */
  private reconnectOnError (err: ReplyError): void {
    const decide = this.client.options.reconnectOnError
    if (typeof decide !== 'function') return
    if (RECONNECT.has(decide(err))) this.client.disconnect(true)
  }
}
