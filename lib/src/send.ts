import { createHash } from 'node:crypto'
import { Command, Redis } from 'ioredis'
import { bounded, toRedisError } from './call.js'
import { Deadlines } from './deadlines.js'
import { noteTimeout } from './silent-link.js'
import { Call, LeanLink } from './lean.js'
import { waitForReady } from './redis.js'
import type { DuplicateOverrides, RedisClient } from './redis-types.js'

type Arg = string | number

/** A Lua script taking a fixed number of keys, with its SHA-1 computed once. */
export interface LuaScript {
  /** The command name it is defined under on clients that go through ioredis (unique per script). */
  readonly name: string
  readonly lua: string
  readonly keys: number
  readonly sha: string
}

export function luaScript (name: string, keys: number, lua: string): LuaScript {
  return { name, lua, keys, sha: createHash('sha1').update(lua).digest('hex') }
}

/**
 * Sends single commands and scripts within a time bound. Replies come back as text (what
 * `client.call()` returns); errors come back coded as `bounded()` codes them.
 */
export interface Sender {
  command: <T = unknown>(name: string, args: Arg[]) => Promise<T>
  /** GET with the value as bytes (null for a missing key): for values that may not be text. */
  getBuffer: (key: string) => Promise<Buffer | null>
  /**
   * A script, as ioredis sends one: EVAL the first time on a connection, EVALSHA after that, and
   * EVAL again if Redis answers NOSCRIPT (its scripts were flushed). Sending EVALSHA first instead
   * would turn a script sent into a paused Redis into a NOSCRIPT that nobody resends.
   */
  script: <T = unknown>(script: LuaScript, keys: string[], args: Arg[]) => Promise<T>
  /**
   * Waits, at most `ms`, for the sender's own connection (see senderFor) while Redis is reachable,
   * so that an app's first requests do not wait for it; at once for a sender without one.
   */
  connected: (ms: number) => Promise<void>
  /**
   * `script`, then the command `next` behind it on the same connection, sent again behind the
   * script whenever the script is (after NOSCRIPT): for WAIT, which counts only the writes sent
   * before it on its connection. Resolves to both replies. Not for a Cluster, whose keyless
   * command may go to another node.
   */
  scriptThen: <T = unknown, U = unknown>(script: LuaScript, keys: string[], args: Arg[], next: [string, Arg[]]) => Promise<[T, U]>
}

/**
 * The cheapest safe way to send on `client` within `ms`, the same whoever created the client.
 *
 * On a standalone ioredis client, each command goes onto the connection as one bare ioredis
 * Command, and the connection is corked until setImmediate, so the commands of one event-loop turn
 * still leave in one write. That is the batching auto-pipelining gives, without its Pipeline object
 * per batch and its two extra promises per command: on a request path that sends one command per
 * request it halved the client's CPU per command and most of its garbage. The bound: one deadline
 * queue per sender fails the commands unanswered after `ms`, or after the client's own command
 * timeout when that is shorter (see Deadlines). It costs no timer per command, where ioredis arms
 * one for every command of a client with a `commandTimeout` (see QueuedCommand).
 *
 * Given `duplicate` (resolveRedis's), a standalone client's commands go instead on a duplicate of
 * it that the sender writes and reads itself (see LeanLink), with the same deadline queue; not for
 * a client whose every command ioredis must handle (see takesLink).
 *
 * A Cluster (which routes by slot, may hold a command for a slot refresh before any node's timer
 * starts, and runs scripts per node) and a client from another copy of ioredis (whose connection may
 * not take our Command objects) go through `client.call()` and `bounded()`, and their scripts
 * through ioredis's defineCommand. `scripts` are all the scripts the sender will run: ioredis must
 * know them before its first auto-pipeline is made (one made earlier lacks them, and its batch then
 * fails as a whole). `owned` does not matter; the parameter stays for the callers that pass it.
 */
export function senderFor (client: RedisClient, _owned: boolean, ms: number, scripts: readonly LuaScript[] = [], duplicate?: (overrides?: DuplicateOverrides) => RedisClient): Sender {
  const given = new Set(scripts)
  const check = (script: LuaScript): void => {
    if (!given.has(script)) throw new Error(`script ${script.name} was not given to senderFor()`)
  }
  if (!(client instanceof Redis)) return viaIoredis(client, ms, scripts, check)
  if (duplicate === undefined || !takesLink(client)) return direct(client, ms, check)
  // RESP2: what the link parses (see resp.ts); the replies our commands and scripts give read the same in both.
  return lean(client, new LeanLink(duplicate({ enableAutoPipelining: false, protocol: 2 }) as Redis), ms, check)
}

/**
 * Whether commands for `client` can go on a lean link (see LeanLink): not when ioredis must add
 * its key prefix (which needs each command's key positions), watch the socket for silence
 * (socketTimeout) or hold it in MONITOR mode.
 */
function takesLink (client: Redis): boolean {
  const { keyPrefix, socketTimeout, monitor } = client.options
  return (keyPrefix === undefined || keyPrefix === '') && socketTimeout === undefined && monitor !== true
}

function viaIoredis (client: RedisClient, ms: number, scripts: readonly LuaScript[], check: (script: LuaScript) => void): Sender {
  type Defined = Record<string, (...keysThenArgs: Arg[]) => Promise<unknown>>
  for (const script of scripts) client.defineCommand(script.name, { numberOfKeys: script.keys, lua: script.lua })
  const command = async <T>(name: string, args: Arg[]): Promise<T> => await bounded(client.call(name, ...args) as Promise<T>, ms, client)
  const script = async <T>(script: LuaScript, keys: string[], args: Arg[]): Promise<T> => {
    check(script)
    return await bounded(((client as unknown as Defined)[script.name] as Defined[string])(...keys, ...args) as Promise<T>, ms, client)
  }
  return {
    command,
    // Not callBuffer(): ioredis's auto-pipelining drops its command name.
    getBuffer: async (key: string): Promise<Buffer | null> => await bounded(client.getBuffer(key), ms, client),
    connected: async () => {},
    script,
    // ioredis may resend a script (EVAL after NOSCRIPT) after a command queued behind it: the
    // command waits for the script's reply instead (one more round trip).
    scriptThen: async <T, U>(lua: LuaScript, keys: string[], args: Arg[], next: [string, Arg[]]): Promise<[T, U]> => {
      const reply = await script<T>(lua, keys, args)
      return [reply, await command<U>(...next)]
    }
  }
}

/**
 * A Command bounded by the sender's deadline queue alone. ioredis arms a timer for every command
 * of a client with a `commandTimeout` (through this method) and clears it on the reply: measured
 * with benchmarks/sender-bound.ts, about a tenth of the client's CPU per command, and on the
 * session read benchmark the plugin's own client (1 s `commandTimeout`) served 0.67x to 0.85x
 * the requests of the same code on a client without one.
 */
class QueuedCommand extends Command {
  override setTimeout (): void {}
}

/**
 * The deadline queue of a sender's commands on `redis`, and how their errors are coded: bounded by
 * `ms`, or by the client's own command timeout when that is the shorter.
 */
function boundOn (redis: Redis, ms: number): { deadlines: Deadlines, code: (err: unknown) => Error } {
  const bound = Math.min(redis.options.commandTimeout ?? ms, ms)
  return {
    deadlines: new Deadlines(bound, () => { noteTimeout(redis, bound) }),
    code: (err: unknown): Error => toRedisError(err, bound, redis)
  }
}

function direct (redis: Redis, ms: number, check: (script: LuaScript) => void): Sender {
  type Stream = Redis['stream']
  let corked: Stream | null = null
  const uncork = (): void => {
    const stream = corked as Stream
    corked = null
    stream.uncork()
  }
  const { deadlines, code } = boundOn(redis, ms)
  const coded = (err: unknown): never => { throw code(err) }
  // What ioredis's own command methods pass: text replies, and the client's key prefix if it has one.
  let options = { replyEncoding: 'utf8' as const, keyPrefix: redis.options.keyPrefix }
  const optionsNow = (): typeof options => {
    if (options.keyPrefix !== redis.options.keyPrefix) options = { ...options, keyPrefix: redis.options.keyPrefix }
    return options
  }
  const send = (command: Command): void => {
    // Only a ready connection is written to at once; otherwise ioredis queues or fails the command.
    if (corked === null && redis.status === 'ready') {
      corked = redis.stream
      corked.cork()
      setImmediate(uncork)
    }
    // Bounded from now, whether the command is written, queued or failed (as ioredis's timeout is).
    redis.sendCommand(command)
    if (!command.isSettled) deadlines.track(command)
  }
  const scripts = scriptsOn({
    // No stream yet (a lazy client before its first connect): whatever gets written goes out new.
    connection: () => redis.stream ?? null,
    send: (name, args) => {
      const command = new QueuedCommand(name, args, optionsNow())
      send(command)
      return command.promise
    },
    learnsLate: false
  }, check, coded)
  return {
    command: <T>(name: string, args: Arg[]): Promise<T> => {
      const command = new QueuedCommand(name, args, optionsNow())
      send(command)
      return (command.promise as Promise<T>).then(undefined, coded)
    },
    getBuffer: (key: string): Promise<Buffer | null> => {
      // No replyEncoding: ioredis hands the reply over as the bytes it read.
      const command = new QueuedCommand('get', [key], { keyPrefix: optionsNow().keyPrefix })
      send(command)
      return (command.promise as Promise<Buffer | null>).then(undefined, coded)
    },
    connected: async () => {},
    ...scripts
  }
}

/**
 * Commands on a connection of the sender's own, written and parsed without ioredis (see
 * LeanLink), bounded and coded as direct()'s are, and scripts sent as ioredis sends them.
 */
function lean (parent: Redis, link: LeanLink, ms: number, check: (script: LuaScript) => void): Sender {
  const redis = link.client
  const { deadlines, code } = boundOn(redis, ms)
  const coded = (err: unknown): never => { throw code(err) }
  /** Rejects coded unless `raw` (a script's, whose NOSCRIPT scriptsOn must see). */
  const send = <T>(binary: boolean, name: string, args: readonly Arg[], raw = false): Promise<T> => {
    const call = link.send(new Call<T>(binary, raw ? undefined : code), name, args)
    if (!call.isSettled) deadlines.track(call)
    return call.promise
  }
  // Not connected yet: what waits goes out on a new connection, which knows no script. The one it
  // went out on (most likely today's) knows it once it is answered; should that be wrong, EVALSHA
  // meets NOSCRIPT and EVAL follows.
  const scripts = scriptsOn({ connection: () => link.connection, send: (name, args) => send(false, name, args, true), learnsLate: true }, check, coded)
  return {
    command: <T>(name: string, args: Arg[]): Promise<T> => send<T>(false, name, args),
    getBuffer: (key: string): Promise<Buffer | null> => send<Buffer | null>(true, 'get', [key]),
    connected: async (wait: number): Promise<void> => {
      if (parent.status === 'ready') await waitForReady(redis, wait)
    },
    ...scripts
  }
}

/** Where scriptsOn sends: the connection in use now, and a send whose errors come back uncoded. */
interface ScriptPath {
  /** The connection commands go out on now; null while there is none. */
  connection: () => object | null
  send: (name: string, args: Arg[]) => Promise<unknown>
  /** A script sent while there was no connection counts as known on the one there is once it is answered. */
  learnsLate: boolean
}

/**
 * `script` and `scriptThen` as ioredis sends scripts: EVAL the first time on a connection, EVALSHA
 * after, EVAL again after NOSCRIPT (and the command behind it again, behind it). Errors are coded
 * with `coded` once the script is done with them (NOSCRIPT must be seen uncoded).
 */
function scriptsOn (path: ScriptPath, check: (script: LuaScript) => void, coded: (err: unknown) => never): Pick<Sender, 'script' | 'scriptThen'> {
  /** The connections each script was sent to in full (by sha): those know it. */
  const loaded = new Map<string, WeakSet<object>>()
  const run = async (script: LuaScript, keys: string[], args: Arg[], next?: [string, Arg[]]): Promise<[unknown, unknown]> => {
    let connections = loaded.get(script.sha)
    if (connections === undefined) loaded.set(script.sha, connections = new WeakSet())
    const connection = path.connection()
    const known = connection !== null && connections.has(connection)
    if (connection !== null) connections.add(connection)
    const sent = path.send(known ? 'evalsha' : 'eval', [known ? script.sha : script.lua, keys.length, ...keys, ...args])
    const follow = next === undefined ? undefined : path.send(next[0], next[1])
    // Awaited below unless the script fails; then the script's error is the one that counts.
    follow?.catch(() => {})
    try {
      const reply = await sent
      const now = path.connection()
      if (path.learnsLate && connection === null && now !== null) connections.add(now)
      return [reply, await follow]
    } catch (err) {
      if (!(err as Error).message.startsWith('NOSCRIPT')) throw err
      if (connection !== null) connections.delete(connection)
      return await run(script, keys, args, next)
    }
  }
  return {
    script: async <T>(script: LuaScript, keys: string[], args: Arg[]): Promise<T> => {
      check(script)
      return await run(script, keys, args).then(([reply]) => reply as T, coded)
    },
    scriptThen: async <T, U>(script: LuaScript, keys: string[], args: Arg[], next: [string, Arg[]]): Promise<[T, U]> => {
      check(script)
      return await (run(script, keys, args, next) as Promise<[T, U]>).then(undefined, coded)
    }
  }
}
