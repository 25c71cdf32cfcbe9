import Fastify from 'fastify'
import proxy from '@scaleout/proxy'
import type { BuildServer } from '../types.js'

// One server shape for every row of the proxy scenarios, so only client-address handling differs:
// `mode` "bare" (no trust: request.ip is the socket peer), "fastify" (Fastify's built-in trustProxy
// with the same trust list, proxy-addr underneath) or "plugin" (@scaleout/proxy).
// GET /ip reads request.ip; GET / reads nothing (what a request that never asks should cost).
const TRUST = ['127.0.0.1/8', '10.0.0.0/8']

export const build: BuildServer = async ({ options }) => {
  const mode = options.mode
  const app = Fastify(mode === 'fastify' ? { trustProxy: TRUST } : {})
  if (mode === 'plugin') await app.register(proxy, { trust: ['loopback', '10.0.0.0/8'] })
  app.get('/ip', async (request) => ({ ip: request.ip }))
  app.get('/', async () => ({ hello: 'world' }))
  return app
}
