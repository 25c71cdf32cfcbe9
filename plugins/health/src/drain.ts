import type { FastifyInstance } from 'fastify'
import { DrainDeadlineError } from './errors.js'
import { PLUGIN, type Settings } from './options.js'
import type { HealthState } from './state.js'

export interface Drainer {
  drain: (reason: string) => Promise<void>
  /** Installs the signal listeners (at onReady). */
  listen: () => void
  /**
   * At preClose, whoever called close(): from now on a signal or drain() waits for that close
   * instead of starting a drain, and the listeners stay until the close has finished.
   */
  closing: () => void
}

// Every health instance's signal listeners, so that several apps in one process (tests, workers)
// do not take each other's listener for the service's own.
const drainListeners = new WeakSet<(...args: never[]) => unknown>()

// signal-exit (installed by many tools, tap among them) listens to every signal but does nothing
// while another listener exists: it never ends the process under a drain. Its v3 and v4 handlers.
function isSignalExit (listener: (...args: never[]) => unknown): boolean {
  const source = String(listener)
  return source.includes('If there are no other listeners, an exit is coming!') || source.includes('listeners.length === emitter.count')
}

/**
 * Signals that already have a listener of the service's own: that listener runs alongside the
 * drain, and if it closes the app or exits (the usual shutdown code) the drain is lost.
 */
function foreignListeners (signals: NodeJS.Signals[]): NodeJS.Signals[] {
  return signals.filter((signal) => process.listeners(signal).some((listener) => !drainListeners.has(listener) && !isSignalExit(listener)))
}

/**
 * The graceful drain: readiness fails at once so load balancers stop sending new traffic, the
 * server keeps serving for drainDelay while they notice, then fastify.close() answers stragglers
 * with 503 + Connection: close, lets in-flight requests finish and closes idle keep-alive
 * connections. A deadline bounds the whole thing, then `exit` is called.
 */
export function createDrainer (fastify: FastifyInstance, settings: Settings, state: HealthState): Drainer {
  const { drainDelay, drainDeadline, exit, signals } = settings
  const log = fastify.log
  let draining: Promise<void> | undefined
  // What the first signal (or drain()) started: a drain, or a wait for a close already under way.
  let under: 'drain' | 'close' = 'drain'
  // The close under way (from its preClose on): 0 once it has finished, 1 if it failed.
  let closed: Promise<number> | undefined

  const close = async (): Promise<number> => {
    await new Promise((resolve) => setTimeout(resolve, drainDelay))
    log.info({ plugin: PLUGIN }, `${PLUGIN}: drain: closing the server (new requests get 503 + Connection: close, in-flight requests finish)`)
    try {
      await fastify.close()
      log.info({ plugin: PLUGIN }, `${PLUGIN}: drain: server closed`)
      return 0
    } catch (err) {
      log.error({ plugin: PLUGIN, err }, `${PLUGIN}: drain: closing the server failed`)
      return 1
    }
  }

  // Ends the process once `ended` settles, or at the deadline if it has not by then.
  const finish = async (ended: Promise<number>): Promise<void> => {
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<number>((resolve) => {
      timer = setTimeout(() => {
        log.error({ plugin: PLUGIN, err: new DrainDeadlineError(drainDeadline) }, `${PLUGIN}: drain: deadline reached`)
        resolve(1)
      }, drainDeadline)
    })
    const code = await Promise.race([ended, deadline])
    clearTimeout(timer)
    log.info({ plugin: PLUGIN, code }, `${PLUGIN}: drain: exiting with code ${code}`)
    exit(code)
  }

  const run = async (reason: string): Promise<void> => {
    state.draining = true
    state.update()
    if (closed !== undefined) {
      under = 'close'
      // The app is closing already (the service's own close(), or one under way while plugins
      // close): a drain's delay would hold traffic that is already refused, and a second close()
      // would only wait for the first. Wait for that close, then exit as a drain does.
      log.info({ plugin: PLUGIN, reason }, `${PLUGIN}: ${reason} while the app is already closing: waiting for that close to finish, then exiting`)
      await finish(closed.then((code) => {
        if (code === 1) log.error({ plugin: PLUGIN }, `${PLUGIN}: the close under way failed (its caller got the error)`)
        return code
      }))
      return
    }
    log.info({ plugin: PLUGIN, reason, drainDelay, drainDeadline },
      `${PLUGIN}: drain started (${reason}): readiness now fails; closing the server in ${drainDelay}ms`)
    await finish(close())
  }

  const drain = async (reason: string): Promise<void> => {
    draining ??= run(reason)
    await draining
  }

  const onSignal = (signal: NodeJS.Signals): void => {
    if (draining !== undefined) {
      // The operator asked twice (Ctrl-C again): stop waiting.
      log.warn({ plugin: PLUGIN, signal }, `${PLUGIN}: ${signal} during the ${under}: exiting now`)
      exit(1)
      return
    }
    // Nothing awaits a signal; the drain catches its own failures and ends in exit().
    drain(signal)
  }

  const unlisten = (): void => { for (const signal of signals) process.off(signal, onSignal) }

  drainListeners.add(onSignal)

  return {
    drain,
    listen: () => {
      const foreign = foreignListeners(signals)
      if (foreign.length > 0) {
        log.warn({ plugin: PLUGIN, signals: foreign },
          `${PLUGIN}: ${foreign.join(' and ')} already had a listener of its own; if it closes the app or exits, the drain is lost. ` +
          'Remove it, or set signals: false and call fastify.health.drain() from it')
      }
      for (const signal of signals) process.on(signal, onSignal)
    },
    closing: () => {
      // Another close() resolves once the one under way has run every onClose hook, including
      // those of plugins registered before this one, which Fastify runs after this plugin's: the
      // listeners stay until then, so a signal in that window is not left to its default action
      // (the process killed mid-close, nothing logged). Called here, before any onClose hook, it
      // cannot reset an onClose failure that the first close() reports. Its callback form runs
      // before the awaits of the first close() resume: the listeners are gone by the time
      // `await fastify.close()` returns.
      closed = new Promise((resolve) => {
        fastify.close((err?: unknown) => {
          unlisten()
          resolve(err ? 1 : 0)
        })
      })
    }
  }
}
