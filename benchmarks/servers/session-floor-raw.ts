import type { BuildServer } from '../types.js'
import { sessionBytes } from './session-common.js'
import { floorRoutes, TTL } from './session-floor.js'
import { respFloorClient } from './resp-floor-client.js'

// The floor's routes with no Redis client library at all (see resp-floor-client.ts): what the
// round trips cost by themselves, the ceiling for any Redis-backed session on this machine.
// Option `merge`: a modification writes its one changed field through a script that merges it
// into the stored session only while that exists, the least a session that keeps parallel
// writers' changes and never revives a destroyed session must do, instead of a blind SET.
const MERGE = `local s = redis.call('GET', KEYS[1])
if not s then return 0 end
local t = cjson.decode(s)
t[ARGV[2]] = ARGV[3]
redis.call('SET', KEYS[1], cjson.encode(t), 'PX', ARGV[1])
return 1`

export const build: BuildServer = async ({ redisUrl, options }) => {
  const send = await respFloorClient(redisUrl)
  const bytes = sessionBytes(options)
  if (options.merge !== true) return floorRoutes(send, { bytes })
  const sha = await send(['SCRIPT', 'LOAD', MERGE]) as string
  return floorRoutes(send, { bytes, write: async (key, fields, field) => await send(['EVALSHA', sha, 1, key, TTL, field, fields[field] as string]) })
}
