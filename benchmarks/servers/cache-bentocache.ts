import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis'
import { closeClient, redisDefaults, waitForReady } from '@scaleout/core'
import type { BuildServer } from '../types.js'
import { load, modeOf, serveUser } from './cache-shared.js'

/** bentocache getOrSet: options.l1 true for L1 + L2 + bus, otherwise L2 (Redis) only. */
export const build: BuildServer = async ({ redisUrl, options }) => {
  const app = Fastify()
  const redis = new Redis(redisUrl, { ...redisDefaults })
  await waitForReady(redis, 5000)
  let store = bentostore()
  if (options.l1 === true) store = store.useL1Layer(memoryDriver({ maxItems: 1000 }))
  store = store.useL2Layer(redisDriver({ connection: redis }))
  if (options.l1 === true) {
    const url = new URL(redisUrl)
    store = store.useBus(redisBusDriver({ connection: { host: url.hostname, port: Number(url.port) } }))
  }
  const bento = new BentoCache({ default: 'cache', stores: { cache: store } })
  app.addHook('onClose', async () => {
    await bento.disconnectAll()
    await closeClient(redis)
  })
  serveUser(app, modeOf(options), async (key) => await bento.getOrSet({ key, factory: load, ttl: '1h' }))
  return app
}
