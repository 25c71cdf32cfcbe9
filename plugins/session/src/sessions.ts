import { InvalidUserIdError } from './errors.js'
import { digest } from './ids.js'
import type { Settings } from './options.js'
import { META_USER, type Store } from './store.js'
import type { DestroyAllOptions, SessionInfo, SessionsApi } from './types.js'

const FIELDS = ['m:c', 'm:s', 'm:ip', 'm:ua', META_USER] as const

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
export function sessionsApi (store: Store, settings: Settings): SessionsApi {
  const { client } = store

  // Every use slides the expiry to `now + ttl`, so the expiry tells when the session was last
  // used; once the absolute deadline caps the expiry, reads record 'm:s' instead (scripts.ts).
  function lastSeen (recorded: number, expiresAt: number): number {
    return Math.max(recorded, expiresAt - settings.ttlMs)
  }

  async function live (user: string): Promise<Array<{ id: string, info: SessionInfo }>> {
    const index = store.indexKey(user)
    const ids = await store.call(client.zrangebyscore(index, Date.now(), '+inf'))
    const rows = await Promise.all(ids.map(async (id) => await Promise.all([
      store.call(client.hmget(store.sessionKey(id), ...FIELDS)),
      store.call(client.pexpiretime(store.sessionKey(id)))
    ])))
    const found: Array<{ id: string, info: SessionInfo }> = []
    const stale: string[] = []
    ids.forEach((id, i) => {
      const [fields, expiresAt] = rows[i] as [Array<string | null>, number]
      const [created, seen, ip, agent, owner] = fields
      if (owner !== user) {
        stale.push(id)
        return
      }
      found.push({
        id,
        // The owner field is only there while the hash is, and with it every other metadata field.
        info: { id: digest(id), createdAt: new Date(Number(created)), lastSeenAt: new Date(lastSeen(Number(seen), expiresAt)), ip: ip as string, userAgent: agent as string }
      })
    })
    if (stale.length > 0) await store.call(client.zrem(index, ...stale))
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
