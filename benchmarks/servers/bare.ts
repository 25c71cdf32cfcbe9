import Fastify from 'fastify'
import type { BuildServer } from '../types.js'

/** Bare Fastify: the reference every ratio is taken against. */
export const build: BuildServer = async () => {
  const app = Fastify()
  app.get('/', async () => ({ hello: 'world' }))
  return app
}
