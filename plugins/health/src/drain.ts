import type { FastifyInstance } from 'fastify'
import { DrainDeadlineError } from './errors.js'
import { PLUGIN, type Settings } from './options.js'
import type { HealthState } from './state.js'

export interface Drainer {
  drain: (reason: string) => Promise<void>
  /** Installs the signal listeners (at onReady). */
  listen: () => void
  /** Removes them (at onClose). */
  unlisten: () => void
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

  const run = async (reason: string): Promise<void> => {
    state.draining = true
    state.update()
    log.info({ plugin: PLUGIN, reason, drainDelay, drainDeadline },
      `${PLUGIN}: drain started (${reason}): readiness now fails; closing the server in ${drainDelay}ms`)
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<number>((resolve) => {
      timer = setTimeout(() => {
        log.error({ plugin: PLUGIN, err: new DrainDeadlineError(drainDeadline) }, `${PLUGIN}: drain: deadline reached`)
        resolve(1)
      }, drainDeadline)
    })
    const code = await Promise.race([close(), deadline])
    clearTimeout(timer)
    log.info({ plugin: PLUGIN, code }, `${PLUGIN}: drain: exiting with code ${code}`)
    exit(code)
  }

  const drain = async (reason: string): Promise<void> => {
    draining ??= run(reason)
    await draining
  }

  const onSignal = (signal: NodeJS.Signals): void => {
    if (draining !== undefined) {
      // The operator asked twice (Ctrl-C again): stop waiting.
      log.warn({ plugin: PLUGIN, signal }, `${PLUGIN}: ${signal} during the drain: exiting now`)
      exit(1)
      return
    }
    // Nothing awaits a signal; the drain catches its own failures and ends in exit().
    drain(signal)
  }

  return {
    drain,
    listen: () => { for (const signal of signals) process.on(signal, onSignal) },
    unlisten: () => { for (const signal of signals) process.off(signal, onSignal) }
  }
}
