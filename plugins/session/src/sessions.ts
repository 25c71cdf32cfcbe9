import { isIP } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import { checkKeys, invalid, isPlainObject } from '@scaleout/core'
import { isUserId, MAX_IP, MAX_USER_AGENT } from './changes.js'
import { InvalidUserIdError, SessionEvictionError } from './errors.js'
import { checkEviction } from './eviction.js'
import { digest } from './signing.js'
import { PLUGIN, type Settings } from './options.js'
import { lastSeen, withinDeadline } from './expiry.js'
import { idleOf, META_OWN, readOwn } from './own-cookie.js'
import { META_AGENT, META_CREATED, META_DEADLINE, META_IP, META_NEXT, META_USER, parseStored, type Fields } from './fields.js'
import type { Store } from './store.js'
import type { DestroyAllOptions, SessionInfo, SessionsApi } from './types.js'

function userIdOf (settings: Settings, userId: unknown): string {
  if (isUserId(userId)) return String(userId)
  throw new InvalidUserIdError(settings.userKey)
}

const DESTROY_ALL = 'sessions.destroyAllFor'

/**
 * The sessions destroyAllFor keeps. Checked before anything is destroyed: a misspelt or mistyped
 * `except` would otherwise end every session, the caller's own among them.
 */
function exceptions (options: unknown): Set<string> {
  if (!isPlainObject(options)) throw invalid(PLUGIN, DESTROY_ALL, 'an object { except } or nothing')
  checkKeys(PLUGIN, DESTROY_ALL, options, ['except'])
  const { except = [] } = options as DestroyAllOptions
  const list: unknown[] = typeof except === 'string' ? [except] : Array.isArray(except) ? except : [except]
  if (!list.every((id) => typeof id === 'string')) throw invalid(PLUGIN, `${DESTROY_ALL}.except`, 'a session id or a digest from listFor, or an array of them')
  return new Set(list as string[])
}

/**
 * What listFor tells of a session. The metadata fields are all written when the session is
 * created, but what Redis returns is untrusted (planted, corrupted, another program's): each is
 * taken only when it is what the plugin writes, so the application gets the types it was promised.
 * A creation time that is not one reads as the last use.
 */
function infoOf (settings: Settings, id: string, fields: Fields, expiresAt: number): SessionInfo {
  const idle = idleOf(settings, readOwn(settings, fields[META_OWN]))
  const created = fields[META_CREATED]
  const createdAt = typeof created === 'string' && TIME.test(created) && validTime(Number(created)) ? Number(created) : expiresAt - idle
  const ip = fields[META_IP]
  const agent = fields[META_AGENT]
  return {
    id: digest(id),
    createdAt: new Date(createdAt),
    lastSeenAt: new Date(lastSeen(createdAt, expiresAt, idle)),
    ip: typeof ip === 'string' && ip.length <= MAX_IP && isIP(ip) !== 0 ? ip : '',
    userAgent: typeof agent === 'string' && agent.length <= MAX_USER_AGENT ? agent : ''
  }
}

/** A creation time as the scripts write it: Redis's clock in whole milliseconds. */
const TIME = /^[0-9]{1,16}$/

/** Within what a Date holds. */
function validTime (ms: number): boolean {
  return !Number.isNaN(new Date(ms).getTime())
}

/**
 * `fastify.sessions`. The user index is a sorted set (score: the session's absolute deadline, or
 * on a Cluster a bound on it) in the user's Cluster slot; entries can outlive their session (idle
 * expiry, or on a Cluster a logout that did not touch the index), so every read checks each
 * session and prunes the index.
 */
export function sessionsApi (store: Store, settings: Settings, log: FastifyBaseLogger): SessionsApi {
  let warnedUnknown = false
  /**
   * Refuses to read the index on a Redis that may evict it (see eviction.ts). Checked on every
   * call, so a policy changed at run time is seen: one CONFIG GET per node, on calls that are rare.
   */
  async function trustIndex (): Promise<void> {
    const { evicting, unknown } = await store.guard(checkEviction(store.client, settings.timeout))
    if (evicting !== null) throw new SessionEvictionError(evicting)
    if (unknown && !warnedUnknown) {
      warnedUnknown = true
      log.warn('@scaleout/session: CONFIG GET maxmemory-policy is not allowed, so whether Redis may evict the user index is unknown; sessions need maxmemory-policy noeviction')
    }
  }

  /** A user's index, read: live sessions, forwarding records (regenerated), and the rest. */
  async function read (user: string): Promise<{ found: Array<{ id: string, info: SessionInfo }>, forwarded: string[], missing: string[], other: string[] }> {
    await trustIndex()
    const index = store.indexKey(user)
    const ids = await store.command<string[]>('zrangebyscore', [index, Date.now(), '+inf'])
    const rows = await Promise.all(ids.map(async (id) => await Promise.all([
      store.command<string | null>('get', [store.sessionKey(id)]),
      store.command<number>('pexpiretime', [store.sessionKey(id)])
    ])))
    const found: Array<{ id: string, info: SessionInfo }> = []
    const forwarded: string[] = []
    const missing: string[] = []
    const other: string[] = []
    const now = Date.now()
    ids.forEach((id, i) => {
      const [text, expiresAt] = rows[i] as [string | null, number]
      const fields = parseStored(text)
      if (typeof fields?.[META_NEXT] === 'string') {
        forwarded.push(id)
        return
      }
      if (text === null) {
        missing.push(id)
        return
      }
      if (fields === null || fields[META_USER] !== user || !withinDeadline(fields[META_DEADLINE], now)) {
        other.push(id)
        return
      }
      found.push({ id, info: infoOf(settings, id, fields, expiresAt) })
    })
    found.sort((a, b) => b.info.lastSeenAt.getTime() - a.info.lastSeenAt.getTime())
    return { found, forwarded, missing, other }
  }

  return {
    async listFor (userId) {
      const user = userIdOf(settings, userId)
      const { found, forwarded, missing, other } = await read(user)
      // Entries whose session is gone may be a Cluster login still being written: PRUNE keeps
      // those while recent. Forwarding records are stale at once: their successor has its own entry.
      await store.prune(user, forwarded, [...missing, ...other])
      return found.map((s) => s.info)
    },
    async destroyAllFor (userId, options = {}) {
      const user = userIdOf(settings, userId)
      const except = exceptions(options)
      const { found, forwarded, missing, other } = await read(user)
      const kept = found.filter((s) => except.has(s.id) || except.has(s.info.id)).map((s) => s.id)
      const doomed = found.filter((s) => !kept.includes(s.id))
      // Each destroy follows forwarding records, so a regenerate() that swapped a listed session
      // meanwhile is caught; a listed session that does not exist yet is marked, never created.
      const counts = await Promise.all([...doomed.map((s) => s.id), ...forwarded, ...missing].map(async (id) => await store.destroyAll(id, user, kept)))
      await store.prune(user, [...doomed.map((s) => s.id), ...forwarded], [...missing, ...other])
      return counts.reduce((sum, n) => sum + n, 0)
    }
  }
}
