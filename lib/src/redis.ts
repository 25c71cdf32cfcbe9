import type { FastifyInstance } from 'fastify'
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import { noteConnectionError } from './call.js'
import { beforeQuit } from './lean.js'
import { reopenWhenSilent } from './silent-link.js'
import { warnIfNoSlotsRefresh } from './slots-refresh.js'
import { RedisNotConfiguredError } from './errors.js'
import { invalid, isPlainObject } from './options.js'
import { clusterDefaults, redisDefaults } from './redis-defaults.js'
import type { RedisClient, RedisOption, ResolvedRedis } from './redis-types.js'

export interface ResolveRedisOptions {
  /** The plugin's name, for errors and log lines. */
  plugin: string
  /** How long start-up (`ready()`) waits, from its creation, for a client we create to become ready (it keeps trying after). */
  readyTimeoutMs?: number
  /**
   * Whether a client created here batches commands per tick (ioredis `enableAutoPipelining`).
   * Default true. A plugin that only publishes asks for false, rather than changing a client's
   * options afterwards; an `enableAutoPipelining` the user wrote in the `redis` option still wins,
   * and a client the caller passed in is never changed.
   */
  autoPipelining?: boolean
  /**
   * The longest the plugin lets one of its Redis calls wait (its `timeout` option). A client created
   * here gives up on a command after 1 s by default (ioredis `commandTimeout`): a plugin that allows
   * longer gets that much instead, or its own longer timeout would never be reached. A
   * `commandTimeout` the user wrote in the `redis` option still wins.
   */
  timeout?: number
}

/** ioredis options a plugin asks for, applied under the user's own (Redis and Cluster alike). */
type Tuning = Pick<RedisOptions, 'enableAutoPipelining' | 'commandTimeout'>

/**
 * Duck-typed rather than `instanceof`: @fastify/redis and callers may bring their own copy of ioredis.
 */
export function isRedisClient (value: unknown): value is RedisClient {
  return value !== null && typeof value === 'object' &&
    typeof (value as RedisClient).duplicate === 'function' &&
    typeof (value as RedisClient).sendCommand === 'function' &&
    typeof (value as { isCluster?: unknown }).isCluster === 'boolean'
}

// A Redis URL may carry a password (redis://user:secret@host), and an error naming the option may
// be logged or shown: it describes a bad URL without quoting any of it.
const LEFT_OUT = 'the URL is left out of this message, as it may hold a password'

/** `value` parsed as a URL, or null. */
function parsed (value: string): URL | null {
  try {
    return new URL(value)
  } catch {
    return null
  }
}

// A % in a password must be written %25: a bare one (or an escape that is not UTF-8) made
// decodeURIComponent throw an uncoded URIError at register time.
const ESCAPES = `a user name and password whose % escapes decode to UTF-8 text (write a % itself as %25; ${LEFT_OUT})`

/** A URL's user name or password, percent-decoded; null when an escape in it does not decode. */
function decoded (part: string): string | null {
  try {
    return decodeURIComponent(part)
  } catch {
    return null
  }
}

function clusterNodes (plugin: string, urls: unknown): { nodes: Array<{ host: string, port: number }>, redisOptions: RedisOptions } {
  if (!Array.isArray(urls) || urls.length === 0) throw invalid(plugin, 'redis.cluster', 'a non-empty array of redis:// or rediss:// node URLs')
  const redisOptions: RedisOptions = {}
  const nodes = urls.map((raw, i) => {
    const url = parsed(String(raw))
    if (url === null) throw invalid(plugin, 'redis.cluster', `node URLs such as redis://host:6379 (node ${i + 1} does not parse; ${LEFT_OUT})`)
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw invalid(plugin, 'redis.cluster', `redis:// or rediss:// node URLs (got ${url.protocol})`)
    if (url.protocol === 'rediss:') redisOptions.tls = {}
    const username = decoded(url.username)
    const password = decoded(url.password)
    if (username === null || password === null) throw invalid(plugin, 'redis.cluster', `node URLs with ${ESCAPES} (node ${i + 1})`)
    if (username !== '') redisOptions.username = username
    if (password !== '') redisOptions.password = password
    return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? 6379 : Number(url.port) }
  })
  return { nodes, redisOptions }
}

/**
 * `value` if it is a redis:// or rediss:// URL that parses (ioredis parses it with `new URL`, whose
 * error quotes it whole, password included).
 */
function checkUrl (plugin: string, option: string, value: string): string {
  const url = /^rediss?:\/\//.test(value) ? parsed(value) : null
  if (url === null) {
    throw invalid(plugin, option, `a redis:// or rediss:// URL that parses, such as redis://user:password@host:6379 (${LEFT_OUT})`)
  }
  // ioredis decodes them as it connects, and throws a URIError for an escape that does not decode.
  if (decoded(url.username) === null || decoded(url.password) === null) throw invalid(plugin, option, `a URL with ${ESCAPES}`)
  return value
}

function create (plugin: string, option: Exclude<RedisOption, RedisClient>, tuning: Tuning): { client: RedisClient, source: ResolvedRedis['source'] } {
  if (typeof option === 'string') {
    return { client: new Redis(checkUrl(plugin, 'redis', option), { ...redisDefaults, ...tuning }), source: 'url' }
  }
  if ('cluster' in option) {
    const { cluster, redisOptions: userRedisOptions, ...rest } = option
    const { nodes, redisOptions } = clusterNodes(plugin, cluster)
    // The command timeout is each node's, under redisOptions.
    const { commandTimeout, ...clusterTuning } = tuning
    const options: ClusterOptions = {
      ...clusterDefaults,
      ...clusterTuning,
      ...rest,
      redisOptions: { ...clusterDefaults.redisOptions, ...(commandTimeout === undefined ? {} : { commandTimeout }), ...redisOptions, ...userRedisOptions }
    }
    return { client: new Cluster(nodes, options), source: 'cluster' }
  }
  if ('sentinels' in option) {
    if (!Array.isArray(option.sentinels) || option.sentinels.length === 0) throw invalid(plugin, 'redis.sentinels', 'a non-empty array of { host, port }')
    if (typeof option.name !== 'string' || option.name === '') throw invalid(plugin, 'redis.name', 'the Sentinel master name')
    return { client: new Redis({ ...redisDefaults, ...tuning, ...option }), source: 'sentinel' }
  }
  const { url, ...rest } = option
  // { host, port } is ioredis's own form, which JavaScript callers try first: name the forms we take.
  if (typeof url !== 'string') {
    throw invalid(plugin, 'redis', "a URL (redis://host:port), { url: 'redis://host:port', ...ioredis options }, { cluster: [urls] }, { sentinels, name } or an ioredis client; an object needs one of url, cluster or sentinels")
  }
  return { client: new Redis(checkUrl(plugin, 'redis.url', url), { ...redisDefaults, ...tuning, ...rest }), source: 'url' }
}

/** Resolves after `ms`, or when `promise` settles, whichever comes first. */
async function within (promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([promise.catch(() => undefined), new Promise((resolve) => { timer = setTimeout(resolve, ms) })])
  clearTimeout(timer)
}

/**
 * Quits politely when connected, otherwise just drops the socket (`quit` on a dead link would wait).
 * Resolves once the client has ended, or after `timeoutMs` when it never had a socket to end.
 */
export async function closeClient (client: RedisClient, timeoutMs = 1000): Promise<void> {
  if (client.status === 'end') return
  const ended = new Promise<void>((resolve) => client.once('end', resolve))
  if (client.status === 'ready') {
    beforeQuit(client)
    await within(client.quit(), timeoutMs)
  }
  // Between two attempts to reach a Redis that is down there is no socket: disconnect() only
  // cancels the next attempt, and no 'end' ever comes (each such client held close() for timeoutMs).
  const idle = client.status === 'reconnecting'
  client.disconnect()
  if (idle) return
  await within(ended, timeoutMs)
}

/** True once the client is ready; false after `ms`, or at the first of `giveUpOn` events. */
async function readyWithin (client: RedisClient, ms: number, giveUpOn: string[]): Promise<boolean> {
  if (client.status === 'ready') return true
  return await new Promise<boolean>((resolve) => {
    const done = (ready: boolean): void => {
      clearTimeout(timer)
      client.off('ready', onReady)
      for (const event of giveUpOn) client.off(event, onFail)
      resolve(ready)
    }
    const onReady = (): void => done(true)
    const onFail = (): void => done(false)
    const timer = setTimeout(done, ms, false)
    client.on('ready', onReady)
    for (const event of giveUpOn) client.on(event, onFail)
  })
}

/** Resolves true once the client is ready, false if it is not ready within `ms`. */
export async function waitForReady (client: RedisClient, ms: number): Promise<boolean> {
  return await readyWithin(client, ms, [])
}

// Apps (keyed by their HTTP server, which every encapsulated context shares) where a client we
// created already failed its first connection attempt.
const unreachableApps = new WeakSet<object>()
// Per app, the addresses already reported unreachable at start-up: every plugin of the app makes
// its own client to the same Redis, and one line says it all.
const reportedDown = new WeakMap<object, Set<string>>()

/** Once per app and address: true the first time only. */
function firstReport (fastify: FastifyInstance, address: string): boolean {
  let seen = reportedDown.get(fastify.server)
  if (seen === undefined) reportedDown.set(fastify.server, seen = new Set())
  if (seen.has(address)) return false
  seen.add(address)
  return true
}

/** Where a client connects, for log lines (never a password). */
function addressOf (client: RedisClient): string {
  if (client.isCluster) {
    // A Cluster we created: its startup nodes are the { host, port } objects clusterNodes made.
    return (client as unknown as { startupNodes: Array<{ host: string, port: number }> }).startupNodes.map((n) => `${n.host}:${n.port}`).join(',')
  }
  const { host, port, name, sentinels } = (client as Redis).options
  return sentinels != null && sentinels.length > 0 ? `sentinel master ${String(name)}` : `${String(host)}:${String(port)}`
}

function fromFastifyRedis (fastify: FastifyInstance): RedisClient | undefined {
  if (!fastify.hasDecorator('redis')) return undefined
  const decorated = (fastify as unknown as { redis: unknown }).redis
  return isRedisClient(decorated) ? decorated : undefined
}

function pick (fastify: FastifyInstance, plugin: string, option: RedisOption | undefined, tuning: Tuning): { client: RedisClient, owned: boolean, source: ResolvedRedis['source'] } {
  if (option === undefined || option === null) {
    const decorated = fromFastifyRedis(fastify)
    if (decorated !== undefined) return { client: decorated, owned: false, source: '@fastify/redis' }
    const envUrl = process.env.REDIS_URL
    if (envUrl !== undefined && envUrl !== '') {
      return { client: new Redis(checkUrl(plugin, 'REDIS_URL', envUrl), { ...redisDefaults, ...tuning }), owned: true, source: 'REDIS_URL' }
    }
    throw new RedisNotConfiguredError(plugin)
  }
  if (isRedisClient(option)) return { client: option, owned: false, source: 'option' }
  if (typeof option !== 'string' && !isPlainObject(option)) {
    throw invalid(plugin, 'redis', 'an ioredis Redis or Cluster, a redis:// URL, { url }, { cluster: [urls] } or { sentinels, name }')
  }
  return { ...create(plugin, option, tuning), owned: true }
}

/**
 * Gives a plugin its Redis client from the `redis` option, else `fastify.redis` (@fastify/redis),
 * else the REDIS_URL environment variable; otherwise registration fails with
 * SCALEOUT_ERR_REDIS_NOT_CONFIGURED. There is deliberately no in-memory fallback: per-process
 * state is exactly what logs users out behind a load balancer.
 *
 * Clients created here (and every duplicate) are quit when the Fastify instance closes; a client
 * the caller passed in is never closed.
 */
export async function resolveRedis (fastify: FastifyInstance, option: RedisOption | undefined, opts: ResolveRedisOptions): Promise<ResolvedRedis> {
  const { plugin, readyTimeoutMs = 2000, autoPipelining, timeout } = opts
  const tuning: Tuning = {
    ...(autoPipelining === undefined ? {} : { enableAutoPipelining: autoPipelining }),
    ...(timeout === undefined || timeout <= (redisDefaults.commandTimeout as number) ? {} : { commandTimeout: timeout })
  }
  const { client, owned, source } = pick(fastify, plugin, option, tuning)
  if (!owned && client.isCluster) warnIfNoSlotsRefresh(fastify, plugin, client as Cluster)
  const ours: RedisClient[] = owned ? [client] : []
  let closing = false

  // onClose hooks run last-registered-first, so a plugin's own onClose (registered after this
  // call) still has its connections; these quit afterwards.
  fastify.addHook('onClose', async () => {
    closing = true
    await Promise.all(ours.map(async (c) => await closeClient(c)))
  })

  // Log the Redis error events of our clients instead of letting them crash the process as
  // unhandled 'error' events; ioredis keeps reconnecting on its own.
  // One warning per outage for this plugin's connections together, not one per reconnect attempt
  // of each (a Redis down for 10 s is dozens of them): the first connection to fail warns, and the
  // outage ends when every failed one is ready again.
  const down = new Set<RedisClient>()
  // While start-up waits for the created client, its errors are left to the one line at the end.
  let starting = owned
  let lastError: Error | undefined
  const watch = (c: RedisClient): RedisClient => {
    c.on('error', (err: Error) => {
      noteConnectionError(c, err)
      lastError = err
      if (down.has(c)) return
      down.add(c)
      if (down.size > 1 || starting) return
      fastify.log.warn({ err, plugin }, `${plugin}: Redis connection error`)
    })
    c.on('ready', () => {
      down.delete(c)
      noteConnectionError(c, null)
    })
    return c
  }
  // A standalone connection we made is reopened when it goes silent (see silent-link.ts).
  const reopenOurs = (c: RedisClient): void => {
    if (!(c instanceof Redis)) return
    reopenWhenSilent(c, () => {
      fastify.log.warn({ plugin, address: addressOf(c) }, `${plugin}: Redis connection silent (commands timed out, nothing received); reconnecting`)
    })
  }
  if (owned) {
    watch(client)
    reopenOurs(client)
    // The bounded wait runs from the client's creation, so the clients of every plugin wait side by
    // side rather than one after another (plugins register in turn); app.ready() awaits them all.
    const readiness = readyWithin(client, readyTimeoutMs, ['end']).then((ready) => {
      starting = false
      if (ready || closing) return
      // The outage goes on: its warning is this one, whether or not an error event came yet.
      down.add(client)
      const address = addressOf(client)
      if (!firstReport(fastify, address)) return
      fastify.log.warn({ err: lastError, plugin, source, address },
        `${plugin}: Redis at ${address} not reachable yet; requests needing it fail fast until it is (one warning for every plugin of the app using it)`)
    })
    fastify.addHook('onReady', async () => await readiness)
    // Registration itself waits for the first connection attempt only: a reachable Redis still gives
    // a ready client at once, and once a client of the app failed, later ones do not wait here.
    if (!unreachableApps.has(fastify.server) && !await readyWithin(client, readyTimeoutMs, ['error', 'close', 'end'])) {
      unreachableApps.add(fastify.server)
    }
  }

  return {
    client,
    owned,
    isCluster: client.isCluster,
    source,
    duplicate: (overrides = {}) => {
      // A duplicate connects at once even when the caller's client is lazy (`lazyConnect`): it is
      // ours, and the subscribers made from it send nothing until ready, so a lazy one never would.
      const options = { lazyConnect: false, ...overrides }
      // Cluster.duplicate takes startup nodes first ([] keeps the original ones).
      const copy = watch(client.isCluster
        ? (client as Cluster).duplicate([], options as ClusterOptions) as unknown as RedisClient
        : (client as Redis).duplicate(options as RedisOptions) as unknown as RedisClient)
      ours.push(copy)
      reopenOurs(copy)
      return copy
    }
  }
}
