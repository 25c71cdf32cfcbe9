import Fastify from 'fastify'
import health from '@scaleout/health'
import type { BuildServer } from '../types.js'

/**
 * @scaleout/health with a Redis check and the event-loop check cached in the background: the
 * measured request is GET /health/ready. A bare route sits beside it for reference.
 */
export const build: BuildServer = async ({ redisUrl, options }) => {
  const app = Fastify()
  await app.register(health, {
    signals: false,
    ...(options.redis === false ? {} : { redis: redisUrl }),
    ...(options.instanceHeader === true ? { instanceHeader: true } : {})
  })
  app.get('/', async () => ({ hello: 'world' }))
  return app
}
