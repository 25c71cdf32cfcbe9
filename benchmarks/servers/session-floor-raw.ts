import type { BuildServer } from '../types.js'
import { floorRoutes } from './session-floor.js'
import { respFloorClient } from './resp-floor-client.js'

// The floor's routes with no Redis client library at all (see resp-floor-client.ts): what the
// round trips cost by themselves, the ceiling for any Redis-backed session on this machine.
export const build: BuildServer = async ({ redisUrl }) => {
  const send = await respFloorClient(redisUrl)
  return floorRoutes(async (args) => await send(args))
}
