import type { FastifyBaseLogger } from 'fastify'
import { InvalidUserIdError, SessionEvictionError } from './errors.js'
import { checkEviction } from './eviction.js'
import { digest } from './ids.js'
import type { Settings } from './options.js'
import { META_CREATED, META_DEADLINE, META_USER, parseStored, type Store } from './store.js'
import type { DestroyAllOptions, SessionInfo, SessionsApi } from './types.js'

function userIdOf (settings: Settings, userId: unknown): string {
  if ((typeof userId === 'string' && userId !== '') || (typeof userId === 'number' && Number.isFinite(userId))) return String(userId)
  throw new InvalidUserIdError(settings.userKey)
}

function exceptions (options: DestroyAllOptions): Set<string> {
  const { except = [] } = options
  return new Set(typeof except === 'string' ? [except] : except)
}

/**
 * `fastify.sessions`. The user index is a sorted set (score: the session's absolute deadline) in
 * the user's Cluster slot; entries can outlive their session (idle expiry, or on a Cluster a
 * logout that did not touch the index), so every read checks each session and prunes the index.
 */
export function sessionsApi (store: Store, settings: Settings, log: FastifyBaseLogger): SessionsApi {
  let warnedUnknown = false
  /**
   * Refuses to read the index on a Redis that may evict it (see eviction.ts). Checked on every
   * call, so a policy changed at run time is seen: one CONFIG GET per node, on calls that are rare.
   */
  async function trustIndex (): Promise<void> {
    const { evicting, unknown } = await store.guard(checkEviction(store.client, settings.timeoutMs))
    if (evicting !== null) throw new SessionEvictionError(evicting)
    if (unknown && !warnedUnknown) {
      warnedUnknown = true
      log.warn('@scaleout/session: CONFIG GET maxmemory-policy is not allowed, so whether Redis may evict the user index is unknown; sessions need maxmemory-policy noeviction')
    }
  }

  async function live (user: string): Promise<Array<{ id: string, info: SessionInfo }>> {
    await trustIndex()
    const index = store.indexKey(user)
    const ids = await store.command<string[]>('zrangebyscore', [index, Date.now(), '+inf'])
    const rows = await Promise.all(ids.map(async (id) => await Promise.all([
      store.command<string | null>('get', [store.sessionKey(id)]),
      store.command<number>('pexpiretime', [store.sessionKey(id)])
    ])))
    const found: Array<{ id: string, info: SessionInfo }> = []
    const stale: string[] = []
    const now = Date.now()
    ids.forEach((id, i) => {
      const [text, expiresAt] = rows[i] as [string | null, number]
      const fields = parseStored(text)
      if (fields === null || fields[META_USER] !== user || !(Number(fields[META_DEADLINE]) > now)) {
        stale.push(id)
        return
      }
      const created = Number(fields[META_CREATED])
      // Every use sets the expiry `ttl` ahead (never capped by the deadline, see scripts.ts), so
      // the expiry says when the session was last used. The metadata fields are all written at creation.
      found.push({
        id,
        info: { id: digest(id), createdAt: new Date(created), lastSeenAt: new Date(Math.max(created, expiresAt - settings.ttlMs)), ip: fields['m:ip'] as string, userAgent: fields['m:ua'] as string }
      })
    })
    if (stale.length > 0) await store.command('zrem', [index, ...stale])
    return found.sort((a, b) => b.info.lastSeenAt.getTime() - a.info.lastSeenAt.getTime())
  }

  return {
    async listFor (userId) {
      return (await live(userIdOf(settings, userId))).map((s) => s.info)
    },
    async destroyAllFor (userId, options = {}) {
      const user = userIdOf(settings, userId)
      const keep = exceptions(options)
      const doomed = (await live(user)).filter((s) => !keep.has(s.id) && !keep.has(s.info.id))
      await Promise.all(doomed.map(async (s) => await store.destroy(s.id, user)))
      return doomed.length
    }
  }
}
