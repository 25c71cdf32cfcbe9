import { luaScript } from '@scaleout/core'
import { deadlineLua, newDeadlineLua, pastDeadlineLua, slideAtLua, slideLua } from './expiry.js'
import { BLOCK, META_CREATED, META_NEXT, META_PREVIOUS, META_USER } from './fields.js'
import { COMPACT_RATIO, COMPACT_SLACK } from './log.js'

// A session is one string: a JSON object of string fields, `d:<key>` for encoded values and `m:*`
// for metadata (see store.ts). A read is then a single GETEX that also slides the idle expiry, and
// the common write a single APPEND (see log.ts): no script, which on Redis costs far more than the
// command it wraps. Creating, regenerating, destroying, logins and compaction are scripts, so that
// they decide on the session as it is, and so that a write after a destroy never brings the
// session back. Scripts only touch
// the keys they are given; on a Cluster those are one session's keys (one slot thanks to the id's
// slot tag) and, in the user's slot, the per-user index, which is then updated by its own call.
// The expiry rules are expiry.ts's. Scripts set the expiry with PXAT from the same TIME they stamp
// the session with: PX would take Redis's clock a moment later, and a new session would look seen
// a millisecond after its creation.

// Snippets pasted into each script rather than Lua functions: Redis runs a script's whole body on
// every call, so functions defined in it would be defined again on every call.

/** `local <name>` = Redis's clock in milliseconds. */
const now = (name: string): string => `local ${name}_t = redis.call('TIME')
local ${name} = tonumber(${name}_t[1]) * 1000 + math.floor(tonumber(${name}_t[2]) / 1000)`

/**
 * `local <name>` = the session or record stored at `key` as a table (removed fields dropped), or
 * nil (missing, or not ours); `<name>_raw` = its text. An open session log is closed to decode it
 * (see fields.ts); a closed record decodes as it is, and so does its first block when appends that
 * found a record in place of the session they read were left after it (see log.ts).
 */
const load = (name: string, key: string): string => `local ${name}_raw = redis.call('GET', ${key}) or ''
local ${name}_ok, ${name} = pcall(cjson.decode, ${name}_raw .. '}')
if not ${name}_ok then ${name}_ok, ${name} = pcall(cjson.decode, ${name}_raw) end
if not ${name}_ok and #${name}_raw > ${BLOCK} and #${name}_raw % ${BLOCK} == 0 then ${name}_ok, ${name} = pcall(cjson.decode, string.sub(${name}_raw, 1, ${BLOCK})) end
if not ${name}_ok or type(${name}) ~= 'table' then ${name} = nil else
  for f, v in pairs(${name}) do if v == cjson.null then ${name}[f] = nil end end
end`

/** Lua: session table `s` as an open log whose length modulo BLOCK is `residue` (see log.ts). */
const openLog = (s: string, residue: string): string => `(function (t) return t .. string.rep(' ', (${residue} - #t % ${BLOCK}) % ${BLOCK}) end)(string.sub(cjson.encode(${s}), 1, -2))`

/** Lua: a closed record of exactly BLOCK bytes (residue 0, which no session has) holding `field` = `value`. */
const record = (field: string, value: string): string => `(function (t) return t .. string.rep(' ', ${BLOCK - 1} - #t) .. '}' end)('{"${field}":' .. cjson.encode(${value}))`

/**
 * Adds `id` to a user's index (score: deadline), drops expired entries, expires with the last, and
 * puts in the table `over` (declared by the script) the oldest other entries past `max`, the
 * maxSessionsPerUser bound: the caller ends those sessions, then unlists them (see Store.evict).
 * Chosen here, in the step that adds, so that racing logins cannot each count below the bound.
 */
const indexAdd = (idx: string, id: string, deadline: string, time: string, max: string): string => `redis.call('ZADD', ${idx}, ${deadline}, ${id})
  redis.call('ZREMRANGEBYSCORE', ${idx}, '-inf', ${time})
  local top = redis.call('ZRANGE', ${idx}, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', ${idx}, top[2])
  local extra = redis.call('ZCARD', ${idx}) - tonumber(${max})
  if extra > 0 then
    for _, e in ipairs(redis.call('ZRANGE', ${idx}, 0, extra)) do
      if e ~= ${id} and #over < extra then over[#over + 1] = e end
    end
  end`

/** Lua: true when a text `bytes` long holding `size` bytes of data is due for compaction (log.ts needsCompaction). */
const dueLua = (bytes: string, size: string): string => `(${bytes} > ${size} * ${COMPACT_RATIO} + ${COMPACT_SLACK})`

/** Lua: the residue after that of session text `raw`, which a rewrite moves its length to (see log.ts). */
const nextResidue = (raw: string): string => `(#${raw} % ${BLOCK}) % ${BLOCK - 1} + 1`

/** `local <name>` = bytes the data fields of session table `s` take (`d:<key>` and value, as JS counts). */
const dataSize = (name: string, s: string): string => `local ${name} = 0
for f, v in pairs(${s}) do if string.sub(f, 1, 2) == 'd:' and type(v) == 'string' then ${name} = ${name} + #f + #v end end`

/**
 * The merge (see log.ts): decodes the session at KEYS[1] and merges the changed fields into it,
 * only while it exists and is within its deadline, and only if the merged data stays within
 * maxBytes or does not grow: parallel writers each within the limit cannot add up past it, and a
 * session over it (a lowered maxBytes) can still shrink. Then appends `fragment` (the same changes,
 * as log.ts writes them) or, when that is empty or the session was stored closed by an earlier
 * version, or the text is due for compaction, rewrites the session compacted (and open), moving its
 * length's residue on. Returns {0, 0} when the session is gone and {-size, 0} when the merged data
 * is too large (nothing written); otherwise leaves `dl` (the deadline) and `n` (Redis's time) set.
 * `apply` is the Lua that sets and removes the fields on the table `s`.
 */
const merge = (o: { idle: string, maxBytes: string, fragment: string, apply: string }): string => `
${load('s', 'KEYS[1]')}
if s == nil then return { 0, 0 } end
if s['m:n'] ~= nil then return { 0, 1 } end
${deadlineLua('dl', 's')}
${now('n')}
if ${pastDeadlineLua('dl', 'n')} then return { 0, 0 } end
${dataSize('before', 's')}
${o.apply}
${dataSize('after', 's')}
if after > ${o.maxBytes} and after > before then return { -after, 0 } end
-- A closed text is a session stored by an earlier version: appending to it would break it. One due
-- for compaction is rewritten here, where it is decoded anyway: logins alone would only append.
if ${o.fragment} == '' or string.sub(s_raw, -1) == '}' or ${dueLua(`#s_raw + #${o.fragment}`, 'after')} then
  redis.call('SET', KEYS[1], ${openLog('s', nextResidue('s_raw'))}, ${slideLua('n', o.idle)})
else
  redis.call('APPEND', KEYS[1], ${o.fragment})
  redis.call('PEXPIREAT', KEYS[1], ${slideAtLua('n', o.idle)})
end`

// The merging write returns {status, moved, ids...}: status is the deadline when written, 0 when the
// session is gone, or minus the merged size when that is too large (nothing written); moved is 1
// when it is gone because another request's regenerate() replaced it by a forwarding record (whose
// response gives the browser the new id); ids, the sessions a login pushed past maxSessionsPerUser
// (see indexAdd).

// KEYS: session. ARGV: the fragment a write appended (see store.ts), the values its data fields
// had before it (a JSON object, null for absent), maxBytes. Run only when a plain APPEND found that
// another writer had changed the session since this request read it, and the text is longer than
// maxBytes, so that the data of both writes together may be too (the data never takes more bytes
// than the text). Both writes are in: decides as the merge would have, on the session as it is.
// Data over maxBytes that this write grew: its fields that still hold its values are put back
// (appended, so that writes after it stay), and it returns minus the data size. Returns 1 when the
// write stands, 0 when the session is gone. A text due for compaction is rewritten compacted
// instead of appended to (residue moved on, expiry kept): a write that raced another never
// compacts it otherwise, so writes that each race another would grow it without end.
const CHECK = `
${load('s', 'KEYS[1]')}
if s == nil then return 0 end
${dataSize('after', 's')}
local result = 1
local size = after
local back = {}
if after > tonumber(ARGV[3]) then
  local ours = cjson.decode('{' .. string.sub(ARGV[1], 2) .. '}')
  local old = cjson.decode(ARGV[2])
  for f, v in pairs(ours) do
    if string.sub(f, 1, 2) == 'd:' and s[f] == (v ~= cjson.null and v or nil) then back[f] = old[f] end
  end
  local mine = {}
  for f, v in pairs(back) do
    mine[f] = s[f]
    s[f] = v ~= cjson.null and v or nil
  end
  ${dataSize('before', 's')}
  if after > before then
    result = -after
    size = before
  else
    for f in pairs(back) do s[f] = mine[f] end
  end
end
if ${dueLua('#s_raw', 'size')} then
  redis.call('SET', KEYS[1], ${openLog('s', nextResidue('s_raw'))}, 'KEEPTTL')
elseif result < 0 then
  local text = ''
  for f, v in pairs(back) do text = text .. ',' .. cjson.encode(f) .. ':' .. cjson.encode(v) end
  redis.call('APPEND', KEYS[1], text .. string.rep(' ', (${BLOCK} - #text % ${BLOCK}) % ${BLOCK}))
end
return result
`

// KEYS: session. ARGV: the session's text rewritten compacted (see log.ts), the length of the text
// the request read, and the fragment of its changes. Replaces the text with the compacted one while
// it is still that long, which proves nobody wrote since: Redis copies the new text and decodes
// nothing. Otherwise appends the fragment, as the common write does (see store.ts), except to a
// key that holds no session (missing, or a record: a whole number of blocks), which it leaves
// alone. Returns 0 when it rewrote, -2 when the key holds a regenerate()'s forwarding record, -1
// when it holds no session otherwise, else APPEND's reply.
const COMPACT = `
local l = redis.call('STRLEN', KEYS[1])
if l == tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
  return 0
end
if l % ${BLOCK} == 0 then
  if l > 0 and redis.call('GETRANGE', KEYS[1], 0, 5) == '{"m:n"' then return -2 end
  return -1
end
return redis.call('APPEND', KEYS[1], ARGV[3])
`

// KEYS: session, index to add to, index to remove from (unused ones are the session key again,
// so a Cluster sees one slot). ARGV: idle (the session's idle time: ttl, or its own), hasAdd,
// hasRem, id, nset, maxBytes, fragment ('' to compact), maxSessionsPerUser, field/value pairs...,
// fields to delete...
// The write that merges at once: a login or logout (the user index changes with it), a change of
// the session's own cookie attributes (it slides the session by its idle time), or one whose
// text's length the request does not know (after a race, or after its own earlier write when the
// text is due for compaction).
const WRITE = `
${merge({
  idle: 'ARGV[1]',
  maxBytes: 'tonumber(ARGV[6])',
  fragment: 'ARGV[7]',
  apply: `local last = 8 + tonumber(ARGV[5]) * 2
for i = 9, last, 2 do s[ARGV[i]] = ARGV[i + 1] end
for i = last + 1, #ARGV do s[ARGV[i]] = nil end`
})}
if ARGV[3] == '1' then redis.call('ZREM', KEYS[3], ARGV[4]) end
local over = {}
if ARGV[2] == '1' then
  ${indexAdd('KEYS[2]', 'ARGV[4]', 'dl', 'n', 'ARGV[8]')}
end
return { dl, 0, unpack(over) }
`

// A regenerate() leaves the old key behind for a while as a forwarding record, `{"m:n": <rest of
// the new key after its slot tag>}` (no deadline, so it reads as no session; BLOCK bytes, see log.ts). destroyAllFor may have listed the old session just
// before the swap; following the record, it destroys what the session became (see DESTROY_ALL).

// KEYS: new session, old session, index to add to, index to remove from (unused: the new key).
// ARGV: hasOld ('0', '1', or '2': an old session never read), hasAdd, hasRem, idle, maxLifetime,
// id, old id, forwardMs, checkNew ('1' on a Cluster), the new key after its slot tag,
// maxSessionsPerUser, the old key after its slot tag, field/value pairs... Creates a session; with
// an old one (regenerate) replaces it by a forwarding record in the same step (the new session
// names the old one in `m:p`, which a destroy() through the old cookie checks: see DESTROY), and
// refuses when it is already gone
// (destroyed meanwhile, or already regenerated), except for one never read, which may have expired
// long ago (but not one already regenerated). Refuses as well when the new key exists: destroyAllFor marks a listed session that does
// not exist yet (on a Cluster the index entry goes first) so that it is never created. Returns
// {the absolute deadline, 0 (refused), or -1 (refused: another regenerate() replaced the old session
// first, whose response gives the browser its new id); then the sessions a login pushed past
// maxSessionsPerUser}.
const CREATE = `
${now('n')}
if ARGV[9] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return { 0 } end
local from = nil
if ARGV[1] ~= '0' then
  ${load('old', 'KEYS[2]')}
  -- Even for one never read (a lazy route's login): its cookie's session was just regenerated by
  -- another request, whose response gives the browser the new id; a second session made here
  -- would be an orphan, alive and listed under the user until its idle timeout.
  if old ~= nil and old['m:n'] ~= nil then return { -1 } end
  if ARGV[1] == '1' then
    if old == nil then return { 0 } end
    ${deadlineLua('odl', 'old')}
    if ${pastDeadlineLua('odl', 'n')} then
      redis.call('DEL', KEYS[2])
      return { 0 }
    end
  end
  if old ~= nil then
    redis.call('SET', KEYS[2], ${record(META_NEXT, 'ARGV[10]')}, 'PX', ARGV[8])
    from = ARGV[12]
  else
    redis.call('DEL', KEYS[2])
  end
end
local dl = ${newDeadlineLua('n', 'ARGV[5]')}
local s = { ['m:c'] = string.format('%d', n), ['m:d'] = string.format('%d', dl), ['${META_PREVIOUS}'] = from }
for i = 13, #ARGV, 2 do s[ARGV[i]] = ARGV[i + 1] end
redis.call('SET', KEYS[1], ${openLog('s', '1')}, ${slideLua('n', 'ARGV[4]')})
-- The old id leaves the index before the new one is counted: a regenerate() ends nobody.
if ARGV[3] == '1' then redis.call('ZREM', KEYS[4], ARGV[7]) end
local over = {}
if ARGV[2] == '1' then
  ${indexAdd('KEYS[3]', 'ARGV[6]', 'dl', 'n', 'ARGV[11]')}
end
return { dl, unpack(over) }
`

// KEYS: session, index (unused: the session key). ARGV: id, hasIndex, the key's prefix and slot
// tag (the key without the id's part after its tag), that part, forwardMs. Deletes the session.
// When it was a regenerate()'s forwarding record (a logout racing a login on the same old cookie:
// the login landed first), also ends what the record leads to, through the records of further
// regenerate()s, so that the login's session does not outlive the logout; but only a session that
// names the record it was regenerated from (`m:p`, see CREATE) and was created within a record's
// lifetime (forwardMs, by Redis's clock), so that a forged record (one that leads within the slot,
// as DESTROY_ALL's) or one kept alive by replaying an old cookie ends nobody else's session.
// Returns {} or, for a session so ended, {its id's part after the tag, its user or ''}: its index
// entry is removed by a call of its own (the index is in its user's slot, unknown until now).
const DESTROY = `
-- A record's first block is the record (see load), and only a record's text starts so (no session
-- has the field): a session is neither copied (it may be maxBytes long) nor decoded here.
local head = redis.call('GETRANGE', KEYS[1], 0, ${BLOCK - 1})
redis.call('DEL', KEYS[1])
if ARGV[2] == '1' then redis.call('ZREM', KEYS[2], ARGV[1]) end
if string.sub(head, 1, 7) ~= '{"${META_NEXT}":' then return {} end
local ok, s = pcall(cjson.decode, head)
if not ok or type(s) ~= 'table' or type(s['${META_NEXT}']) ~= 'string' then return {} end
${now('n')}
local from = ARGV[4]
local to = s['${META_NEXT}']
local records = {}
for hop = 1, 16 do
  local key = ARGV[3] .. to
  ${load('t', 'key')}
  if t == nil then return {} end
  if type(t['${META_NEXT}']) ~= 'string' then
    local created = tonumber(t['${META_CREATED}'])
    if t['${META_PREVIOUS}'] ~= from or created == nil or created <= n - tonumber(ARGV[5]) then return {} end
    for _, r in ipairs(records) do redis.call('DEL', r) end
    redis.call('DEL', key)
    return { to, type(t['${META_USER}']) == 'string' and t['${META_USER}'] or '' }
  end
  records[#records + 1] = key
  from = to
  to = t['${META_NEXT}']
end
return {}
`

// KEYS: a session listed in a user's index. ARGV: the key prefix its successors start with (its
// own prefix and slot tag, so a forged record can only lead within that slot), markMs, follow,
// the user, keys to keep... Deletes the session and, with follow '1', following forwarding
// records, whatever it was regenerated into, stopping at a key to keep and at a session that is
// not the user's: an index can list a session that changed hands (a login on a lazy route, or on a
// Cluster, leaves the old user's entry), and the record a regenerate() leaves leads to whoever
// logged in next. With follow '0' (an eviction, see
// Store.evict) a forwarding record is left alone: what it leads to has an index entry of its own,
// newer, and a destroyAllFor that listed the old session may still need to follow it. A key that
// does not exist is marked for markMs, so that a create still on its way (a Cluster login whose
// index entry went first) is refused; markMs is 0 where the index and the session change in one
// script, so no create can be on its way. Returns how many sessions it destroyed.
const DESTROY_ALL = `
local keep = {}
for i = 5, #ARGV do keep[ARGV[i]] = true end
local key = KEYS[1]
local destroyed = 0
for hop = 1, 16 do
  ${load('s', 'key')}
  if s_raw == '' then
    if hop == 1 and ARGV[2] ~= '0' then redis.call('SET', key, ${record('m:x', "'1'")}, 'PX', ARGV[2]) end
    return destroyed
  end
  if s ~= nil and (s['m:x'] or (ARGV[3] == '0' and s['m:n']) or (s['m:d'] and s['m:u'] ~= ARGV[4])) then return destroyed end
  redis.call('DEL', key)
  if s == nil then return destroyed end
  if s['m:d'] then destroyed = destroyed + 1 end
  if type(s['m:n']) ~= 'string' then return destroyed end
  key = ARGV[1] .. s['m:n']
  if keep[key] then return destroyed end
end
return destroyed
`

// KEYS: index. ARGV: id, maxLifetime, maxSessionsPerUser. The Cluster path's separate index
// update. The score is Redis's now + maxLifetime, a bound on the session's deadline that also says
// when the entry was added (see PRUNE). Returns the sessions pushed past maxSessionsPerUser.
const INDEX = `
${now('n')}
local over = {}
${indexAdd('KEYS[1]', 'ARGV[1]', 'n + tonumber(ARGV[2])', 'n', 'ARGV[3]')}
return over
`

// KEYS: index. ARGV: maxLifetime, graceMs, nAlways, ids to remove..., ids to remove unless recent...
// An entry whose session is missing or not (yet) the user's may be a login still being written on
// a Cluster (the index entry goes alongside the session's own call): such entries are kept while
// younger than graceMs by Redis's clock (score - maxLifetime is when they were added, at most).
const PRUNE = `
${now('n')}
local edge = n + tonumber(ARGV[1]) - tonumber(ARGV[2])
local last = 3 + tonumber(ARGV[3])
for i = 4, #ARGV do
  if i <= last then
    redis.call('ZREM', KEYS[1], ARGV[i])
  else
    local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
    if score and tonumber(score) <= edge then redis.call('ZREM', KEYS[1], ARGV[i]) end
  end
end
return 1
`

// Sent as ioredis sends scripts (see the core's Sender). Key counts are fixed: ioredis's Cluster
// auto-pipelining groups commands by their first argument, which must therefore be a key (a
// leading numkeys made it batch different slots).
export const WRITE_SCRIPT = luaScript('scaleoutSessionWrite', 3, WRITE)
export const CHECK_SCRIPT = luaScript('scaleoutSessionCheck', 1, CHECK)
export const COMPACT_SCRIPT = luaScript('scaleoutSessionCompact', 1, COMPACT)
export const CREATE_SCRIPT = luaScript('scaleoutSessionCreate', 4, CREATE)
export const DESTROY_SCRIPT = luaScript('scaleoutSessionDestroy', 2, DESTROY)
export const INDEX_SCRIPT = luaScript('scaleoutSessionIndex', 1, INDEX)
export const DESTROY_ALL_SCRIPT = luaScript('scaleoutSessionDestroyAll', 1, DESTROY_ALL)
export const PRUNE_SCRIPT = luaScript('scaleoutSessionPrune', 1, PRUNE)
