import { instanceIdentity } from '@scaleout/core'
import type { FastifyInstance } from 'fastify'
import { createApi } from './api.js'
import { addChecks } from './checks.js'
import { createDrainer } from './drain.js'
import { bindInstance } from './instance.js'
import { normalise } from './options.js'
import { registerRoutes } from './routes.js'
import { CheckRunner, type Entry } from './runner.js'
import { HealthState } from './state.js'
import { sweepIdleConnections } from './sweep.js'
import type { HealthOptions } from './types.js'

/** Checks every option, then adds the checks, the decorator, the routes and the drain. */
export async function healthPlugin (fastify: FastifyInstance, options: HealthOptions): Promise<void> {
  const settings = normalise(options)
  const identity = instanceIdentity({ version: settings.version })
  const entries = new Map<string, Entry>()
  const state = new HealthState(entries)
  const runner = new CheckRunner(entries, () => state.update(), fastify.log)

  await addChecks(fastify, runner, settings)

  const drainer = createDrainer(fastify, settings, state)
  fastify.decorate('health', createApi(runner, state, drainer, identity))
  bindInstance(fastify, settings, identity)
  registerRoutes(fastify, settings, state, identity)
  sweepIdleConnections(fastify, () => state.draining)

  fastify.addHook('onReady', async () => {
    // Fastify always fills in pluginTimeout (10 s unless given), though its type allows undefined.
    await firstRun(runner.start(), fastify.initialConfig.pluginTimeout as number)
    state.serverReady = true
    state.update()
    drainer.listen()
  })
  fastify.addHook('preClose', async () => { drainer.closing() })
  fastify.addHook('onClose', async () => { runner.stop() })
}

/**
 * Waits for the checks' first run, but never so long that Fastify gives up on the onReady hook: it
 * allows a hook `pluginTimeout` (10 s by default) and then fails ready() and listen(), which a check
 * timeout of more would have done whenever a dependency hung at start-up. Past 90% of it the server
 * starts, and a check still running counts as failing ("not checked yet") until its result.
 */
async function firstRun (run: Promise<void>, pluginTimeout: number): Promise<void> {
  if (pluginTimeout <= 0) {
    await run
    return
  }
  let timer: NodeJS.Timeout | undefined
  await Promise.race([run, new Promise<void>((resolve) => { timer = setTimeout(resolve, Math.floor(pluginTimeout * 0.9)) })])
  clearTimeout(timer)
}
