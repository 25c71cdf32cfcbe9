import Fastify from 'fastify'
import type { BuildServer } from '../types.js'
import { record } from './cache-shared.js'

/** Bare Fastify serving the same record with no cache at all: the baseline of the cache scenarios. */
export const build: BuildServer = async () => {
  const app = Fastify()
  app.get('/user', async () => record)
  return app
}
