export type BreakerState = 'closed' | 'open' | 'half-open'

/**
 * Stops sending commands to a Redis that keeps failing: after `threshold` consecutive failures it
 * opens for the `cooldown` option, then lets exactly one probe through; the probe's outcome closes or
 * reopens it. No timers: the cool-off is checked when the next call asks.
 */
export class Breaker {
  state: BreakerState = 'closed'
  opens = 0
  private failures = 0
  private openedAt = 0

  constructor (private readonly threshold: number, private readonly cooldownMs: number) {}

  allow (now: number): boolean {
    if (this.state === 'closed') return true
    if (this.state === 'open' && now - this.openedAt >= this.cooldownMs) {
      this.state = 'half-open'
      return true
    }
    return false
  }

  success (): void {
    this.failures = 0
    this.state = 'closed'
  }

  /** Returns true when this failure opened the breaker. */
  failure (now: number): boolean {
    this.failures++
    if (this.state === 'open' || (this.state === 'closed' && this.failures < this.threshold)) return false
    this.state = 'open'
    this.openedAt = now
    this.opens++
    return true
  }
}
