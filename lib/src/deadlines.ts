import { performance } from 'node:perf_hooks'
import { RedisTimeoutError } from './errors.js'

/**
 * Fails the commands (ioredis Commands, or the lean link's Calls) still unanswered `ms` after they
 * were sent, as ioredis's own `commandTimeout` does (the command is rejected; its late reply is
 * ignored), but with one timer for all of them instead of one per command: every command waits the
 * same `ms`, so their deadlines come in the order they were sent, and only the oldest one needs a
 * timer.
 *
 * Replies arrive in order too, so the commands answered are dropped from the front as new ones
 * come in: the queue holds about the commands in flight, not every command of the last `ms`. A
 * dropped command's slot is emptied at once: a settled command holds its reply, and replies kept
 * until the next compaction of the queue (a thousand commands later) outlived the young
 * generation, so every reply was copied to the old one and collected by a full GC.
 */
/** A command that can be failed: an ioredis Command, or a lean connection's Call. */
export interface Expirable {
  readonly isSettled: boolean
  reject: (err: Error) => void
}

export class Deadlines {
  private commands: Array<Expirable | null> = []
  private due: number[] = []
  private head = 0
  private timer: NodeJS.Timeout | null = null

  /** `onTimeout` runs for each command failed for its deadline. */
  constructor (private readonly ms: number, private readonly onTimeout?: () => void) {}

  /** Bounds `command`, which is being sent now. */
  track (command: Expirable): void {
    this.dropSettled()
    this.commands.push(command)
    this.due.push(performance.now() + this.ms)
    if (this.timer === null) this.arm(this.ms)
  }

  private dropSettled (): void {
    const { commands } = this
    while (this.head < commands.length && (commands[this.head] as Expirable).isSettled) commands[this.head++] = null
    if (this.head === commands.length) {
      this.commands = []
      this.due = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > commands.length) {
      this.commands = commands.slice(this.head)
      this.due = this.due.slice(this.head)
      this.head = 0
    }
  }

  private arm (ms: number): void {
    // Unref'd: a bound on pending commands is no reason to keep the process alive.
    this.timer = setTimeout(this.expire, Math.max(1, Math.ceil(ms))).unref()
  }

  private readonly expire = (): void => {
    this.timer = null
    const now = performance.now()
    while (this.head < this.commands.length) {
      const command = this.commands[this.head] as Expirable
      if (!command.isSettled) {
        const wait = (this.due[this.head] as number) - now
        if (wait > 0) return this.arm(wait)
        command.reject(new RedisTimeoutError(this.ms))
        this.onTimeout?.()
      }
      this.commands[this.head++] = null
    }
    this.dropSettled()
  }
}
