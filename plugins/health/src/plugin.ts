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
  const runner = new CheckRunner(entries, () => state.update())

  await addChecks(fastify, runner, settings)

  const drainer = createDrainer(fastify, settings, state)
  fastify.decorate('health', createApi(runner, state, drainer, identity))
  bindInstance(fastify, settings, identity)
  registerRoutes(fastify, settings, state, identity)
  sweepIdleConnections(fastify)

  fastify.addHook('onReady', async () => {
    await runner.start()
    state.serverReady = true
    state.update()
    drainer.listen()
  })
  fastify.addHook('onClose', async () => {
    drainer.unlisten()
    runner.stop()
  })
}
