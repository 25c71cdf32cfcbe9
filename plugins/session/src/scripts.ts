import type { RedisClient } from '@scaleout/core'

// The read path's script defines no helper functions: Redis runs a script's whole body on every
// call, and defining them cost the hottest call more than its own commands did.
// Every request-path operation is one script: one round trip, atomic, and timed by Redis's own
// clock (TIME) so instances with skewed clocks agree on expiry. A script only touches the keys it
// is given; on a Cluster those are one session's keys (one slot thanks to the id's slot tag) and
// the per-user index, which lives in the user's slot, is updated by its own call.

const PRELUDE = `
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function chunked(cmd, key, from, to)
  while from <= to do
    local last = math.min(to, from + 999)
    redis.call(cmd, key, unpack(ARGV, from, last))
    from = last + 1
  end
end
local function indexAdd(idx, id, score, n)
  redis.call('ZADD', idx, score, id)
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', n)
  local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', idx, top[2])
end
`

// KEYS: session. ARGV: idle ttl ms. Returns the hash (flat) and slides the idle expiry, capped
// by the absolute deadline; an expired session is deleted and reads as absent. A read writes no
// field: while the expiry slides, it says when the session was last seen (expiry - ttl); only
// once the deadline caps it does 'm:s' need recording (see sessions.ts).
const LOAD = `
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return false end
local t = redis.call('TIME')
local n = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dl
for i = 1, #h, 2 do
  if h[i] == 'm:d' then dl = tonumber(h[i + 1]) break end
end
if dl == nil or dl <= n then redis.call('DEL', KEYS[1]) return false end
local ttl = tonumber(ARGV[1])
if dl - n < ttl then
  redis.call('PEXPIRE', KEYS[1], dl - n)
  redis.call('HSET', KEYS[1], 'm:s', n)
else
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return h
`

// KEYS: session, index to add to, index to remove from (unused ones are the session key again,
// so a Cluster sees one slot). ARGV: ttl, hasAdd, hasRem, id, nset, field/value pairs..., fields to delete...
// Writes only the changed fields, and only while the session exists: a write that arrives after
// a destroy never brings the session back. Returns the absolute deadline, or 0 when gone.
const WRITE = PRELUDE + `
local key = KEYS[1]
local dl = tonumber(redis.call('HGET', key, 'm:d'))
if dl == nil then return 0 end
local n = now()
if dl <= n then redis.call('DEL', key) return 0 end
local nset = tonumber(ARGV[5])
if nset > 0 then chunked('HSET', key, 6, 5 + nset * 2) end
if 6 + nset * 2 <= #ARGV then chunked('HDEL', key, 6 + nset * 2, #ARGV) end
redis.call('PEXPIRE', key, math.min(tonumber(ARGV[1]), dl - n))
if ARGV[2] == '1' then indexAdd(KEYS[2], ARGV[4], dl, n) end
if ARGV[3] == '1' then redis.call('ZREM', KEYS[3], ARGV[4]) end
return dl
`

// KEYS: new session, old session, index to add to, index to remove from (unused: the new key).
// ARGV: hasOld ('0', '1', or '2': an old session never read), hasAdd, hasRem, ttl, maxLifetime,
// id, old id, field/value pairs... Creates a session; with an old one (regenerate) deletes it in
// the same step, and refuses when it is already gone (destroyed meanwhile), except for one never
// read, which may have expired long ago. Returns the absolute deadline, or 0.
const CREATE = PRELUDE + `
local key = KEYS[1]
local n = now()
if ARGV[1] == '1' then
  local old = KEYS[2]
  local odl = tonumber(redis.call('HGET', old, 'm:d'))
  if odl == nil then return 0 end
  redis.call('DEL', old)
  if odl <= n then return 0 end
elseif ARGV[1] == '2' then
  redis.call('DEL', KEYS[2])
end
local life = tonumber(ARGV[5])
local dl = n + life
redis.call('HSET', key, 'm:c', n, 'm:d', dl, 'm:s', n)
chunked('HSET', key, 8, #ARGV)
redis.call('PEXPIRE', key, math.min(tonumber(ARGV[4]), life))
if ARGV[2] == '1' then indexAdd(KEYS[3], ARGV[6], dl, n) end
if ARGV[3] == '1' then redis.call('ZREM', KEYS[4], ARGV[7]) end
return dl
`

// KEYS: session, index (unused: the session key). ARGV: id, hasIndex.
const DESTROY = `
redis.call('DEL', KEYS[1])
if ARGV[2] == '1' then redis.call('ZREM', KEYS[2], ARGV[1]) end
return 1
`

// KEYS: index. ARGV: id, deadline. The Cluster path's separate index update.
const INDEX = PRELUDE + `
indexAdd(KEYS[1], ARGV[1], tonumber(ARGV[2]), now())
return 1
`

type Arg = string | number

/** The client once the scripts are defined on it. Each takes its keys first, then its arguments. */
export interface ScriptedClient {
  scaleoutSessionLoad: (key: string, ttl: number) => Promise<string[] | null>
  scaleoutSessionWrite: (...keysThenArgs: Arg[]) => Promise<number>
  scaleoutSessionCreate: (...keysThenArgs: Arg[]) => Promise<number>
  scaleoutSessionDestroy: (key: string, index: string, id: string, hasIndex: string) => Promise<number>
  scaleoutSessionIndex: (key: string, id: string, deadline: number) => Promise<number>
}

/**
 * Defines the scripts once per client; ioredis sends EVALSHA and falls back to EVAL after a Redis
 * restart. Key counts are fixed: ioredis's Cluster auto-pipelining groups commands by their first
 * argument, which must therefore be a key (a leading numkeys made it batch different slots).
 */
export function defineScripts (client: RedisClient): ScriptedClient {
  client.defineCommand('scaleoutSessionLoad', { numberOfKeys: 1, lua: LOAD })
  client.defineCommand('scaleoutSessionWrite', { numberOfKeys: 3, lua: WRITE })
  client.defineCommand('scaleoutSessionCreate', { numberOfKeys: 4, lua: CREATE })
  client.defineCommand('scaleoutSessionDestroy', { numberOfKeys: 2, lua: DESTROY })
  client.defineCommand('scaleoutSessionIndex', { numberOfKeys: 1, lua: INDEX })
  return client as unknown as ScriptedClient
}
