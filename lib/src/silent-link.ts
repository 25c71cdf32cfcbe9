import { Redis } from 'ioredis'

// A connection that a NAT, a firewall or a load balancer dropped without a reset (or a middlebox that
// froze) stays open to the client: every command times out, and TCP goes on retransmitting for
// about 15 minutes on Linux before it gives up. ioredis does not notice, and neither did we: a
// service failed every Redis call for that long, then recovered by itself. A standalone client
// we created is reopened once its commands time out and nothing at all has arrived on its
// connection for longer than their timeout.

interface Watch {
  readonly onReopen: () => void
  /** The connection last looked at, and how much it had read then. */
  stream: unknown
  bytes: number
  since: number
}

const watched = new WeakMap<object, Watch>()

/** Reopens `client`'s connection when it goes silent (see noteTimeout); `onReopen` logs it. */
export function reopenWhenSilent (client: Redis, onReopen: () => void): void {
  watched.set(client, { onReopen, stream: undefined, bytes: 0, since: 0 })
}

/**
 * A command on `client` got no answer within `ms`. The first such timeout starts a watch of its
 * connection; one that comes `ms` or more later, with not a byte read in between, reopens it.
 * Clients not registered, and clients not connected, are left alone.
 */
export function noteTimeout (client: object | undefined, ms: number): void {
  const watch = client === undefined ? undefined : watched.get(client)
  if (watch === undefined) return
  const redis = client as Redis
  const stream = redis.stream as Redis['stream'] | undefined
  if (redis.status !== 'ready' || stream === undefined) return
  const now = Date.now()
  if (watch.stream !== stream || watch.bytes !== stream.bytesRead) {
    watch.stream = stream
    watch.bytes = stream.bytesRead
    watch.since = now
    return
  }
  if (now - watch.since < ms) return
  watch.stream = undefined
  watch.onReopen()
  // Dropped, not ended: a FIN to a peer that is gone is retransmitted like the rest, and the
  // connection would not close before TCP gives up. ioredis sees it close, and reconnects.
  stream.destroy()
}
