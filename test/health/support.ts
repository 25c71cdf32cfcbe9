import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import health, { type HealthOptions } from '@scaleout/health'

export const HEALTH_JSON = 'application/health+json; charset=utf-8'

/** A fresh app with the plugin, no signal listeners and an exit that records instead of exiting. */
export async function build (options: HealthOptions = {}, fastifyOptions: FastifyServerOptions = {}): Promise<{ app: FastifyInstance, exits: number[] }> {
  const exits: number[] = []
  const app = Fastify(fastifyOptions)
  await app.register(health, { signals: false, exit: (code) => { exits.push(code) }, eventLoopDelay: false, ...options })
  return { app, exits }
}

/** A check whose outcome the test sets: 'pass', 'warn', 'fail' (throws) or 'hang' (never settles). */
export function controlled (initial: 'pass' | 'warn' | 'fail' | 'hang' = 'pass'): { check: () => unknown, set: (next: 'pass' | 'warn' | 'fail' | 'hang') => void, calls: () => number } {
  let mode = initial
  let calls = 0
  return {
    check: async () => {
      calls++
      if (mode === 'fail') throw new Error('dependency down')
      if (mode === 'hang') return await new Promise(() => {})
      return mode === 'warn' ? { status: 'warn', observedValue: 7, observedUnit: 'items', output: 'queue growing' } : undefined
    },
    set: (next) => { mode = next },
    calls: () => calls
  }
}
