/** Lets `wrap` calls that wait for another instance's value wake as soon as its key is written. */
export class Waiters {
  private readonly byKey = new Map<string, Set<() => void>>()

  /** Resolves when `key` is woken or after `ms`, whichever is first. */
  async wait (key: string, ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      let set = this.byKey.get(key)
      if (set === undefined) this.byKey.set(key, set = new Set())
      const waiters = set
      const done = (): void => {
        clearTimeout(timer)
        waiters.delete(done)
        if (waiters.size === 0 && this.byKey.get(key) === waiters) this.byKey.delete(key)
        resolve()
      }
      const timer = setTimeout(done, ms)
      waiters.add(done)
    })
  }

  wake (key: string): void {
    const waiters = this.byKey.get(key)
    if (waiters !== undefined) for (const done of [...waiters]) done()
  }
}
