import type { Store } from './store.js'

/**
 * Sets a session's idle expiry to its own (see own-cookie.ts idleOf). The read (GETEX) slides
 * every session by the plugin's idle timeout; a session whose cookie has a Max-Age of its own then
 * needs this one more command, and only such a session: the plugin's sessions keep their single
 * command per read. Writes never need it: the scripts that create or merge a session set its own
 * idle expiry themselves, an appending write leaves the expiry as the read set it, and a change of
 * the session's own idle time merges (see save.ts). A session gone meanwhile stays gone (PEXPIRE
 * on a missing key does nothing; one regenerated meanwhile, now a forwarding record that reads as
 * no session, may then linger for this idle time instead of its minute).
 */
export async function keepIdle (store: Store, id: string, idle: number): Promise<void> {
  await store.command('pexpire', [store.sessionKey(id), idle])
}
