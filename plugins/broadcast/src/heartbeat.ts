export interface HeartbeatHooks {
  /** Publishes beat number `seq` on this instance's own heartbeat channel. */
  send: (seq: number) => Promise<unknown>
  /** Whether the subscriber is connected (a reconnecting one is not judged). */
  subscriberReady: () => boolean
  /** Called when `misses` beats that Redis accepted never came back. */
  dead: () => void
}

/**
 * Each instance publishes a numbered beat to itself and listens for it. A subscriber connection
 * can look healthy and hear nothing (a half-open TCP link, a proxy that dropped it, a server that
 * lost the subscription): when `misses` beats that Redis accepted were not heard back, the
 * subscription is declared dead and the subscriber is forced to reconnect. A beat Redis refused
 * says nothing about the subscriber and is not counted.
 */
export class Heartbeat {
  private seq = 0
  private heardSeq = 0
  /** Beats Redis accepted, newest last, at most `misses` of them. */
  private accepted: number[] = []
  private timer: NodeJS.Timeout | undefined
  private readonly intervalMs: number
  private readonly misses: number
  private readonly hooks: HeartbeatHooks

  constructor (intervalMs: number, misses: number, hooks: HeartbeatHooks) {
    this.intervalMs = intervalMs
    this.misses = misses
    this.hooks = hooks
  }

  start (): void {
    this.timer = setInterval(() => this.beat(), this.intervalMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
  }

  /**
   * A beat came back. Only a number this instance sent counts: anyone who can PUBLISH could send a
   * huge one, and a dead subscription would then never be noticed.
   */
  heard (text: string): void {
    const seq = Number(text)
    if (Number.isInteger(seq) && seq > this.heardSeq && seq <= this.seq) this.heardSeq = seq
  }

  beat (): void {
    if (!this.hooks.subscriberReady()) {
      this.accepted = []
      return
    }
    if (this.accepted.length >= this.misses && this.accepted.every((s) => s > this.heardSeq)) {
      this.accepted = []
      this.hooks.dead()
      return
    }
    const seq = ++this.seq
    this.hooks.send(seq).then(() => {
      this.accepted.push(seq)
      if (this.accepted.length > this.misses) this.accepted.shift()
    }, () => undefined)
  }
}
