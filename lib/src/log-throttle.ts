/**
 * Thins out a warning that whoever can cause it may repeat without bound: one per message that is
 * not ours on a pub/sub channel, say, which anyone allowed to `PUBLISH` there can send by the
 * thousand to flood the log. The first occurrence is let through, then at most one per
 * `intervalMs`, each telling how many were held back since the one before. There is no timer (it
 * would have to be cleared, or keep the process alive): what was held back after the last one let
 * through is told with the next occurrence, so keep an exact counter beside it (in stats()).
 */
export class LogThrottle {
  private readonly intervalMs: number
  private readonly now: () => number
  private last = -Infinity
  private held = 0

  /** `now` is a monotonic clock in ms (a wall clock set back would hold every warning back). */
  constructor (intervalMs: number, now: () => number = () => performance.now()) {
    this.intervalMs = intervalMs
    this.now = now
  }

  /**
   * Counts one occurrence. Returns how many were held back since the last one let through (0 for
   * the first) when this one is to be logged, `undefined` when it is held back.
   */
  note (): number | undefined {
    const now = this.now()
    if (now - this.last < this.intervalMs) {
      this.held++
      return undefined
    }
    const held = this.held
    this.last = now
    this.held = 0
    return held
  }

  /**
   * Counts one occurrence and, unless it is held back, logs `message` at warn with `suppressed`
   * (how many were held back since the last one), also told at the end of the text.
   */
  warn (log: { warn: (fields: object, message: string) => void }, fields: object, message: string): void {
    const suppressed = this.note()
    if (suppressed === undefined) return
    log.warn({ ...fields, suppressed }, suppressed === 0 ? message : `${message}, and ${suppressed} more since the last such warning`)
  }
}
