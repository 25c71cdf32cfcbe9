import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { Redis, type RedisOptions } from 'ioredis'
import { closeClient, luaScript, resolveRedis, senderFor, type ResolvedRedis, type Sender } from '@scaleout/core'
import { adminFor, appFor, freePort, FreezingProxy, logSink, redisFor, waitUntil, type RedisServer } from '../helpers/index.js'

// senderFor() given the plugin's duplicate(): the request path's commands go on a connection of
// the sender's own, written and parsed without ioredis (lib/src/lean.ts), which ioredis still
// opens, authenticates and reopens. Whoever made the client, the replies, errors, scripts and
// bounds are those of the other paths (sender.test.ts).

const ECHO = luaScript('scaleoutTestLeanEcho', 1, "redis.call('SET', KEYS[1], ARGV[1]) return { tonumber(ARGV[2]), redis.call('GET', KEYS[1]), false }")

interface Setup {
  server: RedisServer
  admin: Redis
  app: ReturnType<typeof appFor>
  resolve: (option?: Record<string, unknown> | Redis) => Promise<ResolvedRedis>
}

async function setup (t: Test): Promise<Setup> {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const app = appFor(t)
  const resolve = async (option: Record<string, unknown> | Redis = {}): Promise<ResolvedRedis> =>
    await resolveRedis(app, option instanceof Redis ? option : { url: server.url, commandTimeout: 300, ...option }, { plugin: '@scaleout/test' })
  return { server, admin, app, resolve }
}

/** A sender with a link, and the ioredis client that keeps the link's connection. */
function leanSender (resolved: ResolvedRedis, ms = 300): Sender & { link: () => Redis } {
  let link: Redis | undefined
  const send = senderFor(resolved.client, resolved.owned, ms, [ECHO], (overrides) => (link = resolved.duplicate(overrides) as Redis))
  return Object.assign(send, { link: () => link as Redis })
}

/** The ids of the connections Redis has now, by name, without the admin's. */
async function connections (admin: Redis): Promise<string[]> {
  const list = await admin.client('LIST') as string
  const own = await admin.client('ID')
  return list.trim().split('\n').filter((line) => !line.startsWith(`id=${own} `)).map((line) => /^id=(\d+)/.exec(line)?.[1] as string)
}

/** Makes a sender with a link and waits for it; the link's connection id. */
async function linked (admin: Redis, resolved: ResolvedRedis, ms = 300): Promise<{ send: ReturnType<typeof leanSender>, link: string }> {
  const before = await connections(admin)
  const send = leanSender(resolved, ms)
  await send.connected(2000)
  const link = (await connections(admin)).filter((id) => !before.includes(id))
  if (link.length !== 1) throw new Error(`expected one new connection, found ${link.length}`)
  return { send, link: link[0] as string }
}

/** `INFO stats` total_reads_processed: how many socket reads the server has made, all clients. */
async function reads (admin: Redis): Promise<number> {
  return Number(/total_reads_processed:(\d+)/.exec(await admin.info('stats'))?.[1])
}

t.test('a connection of its own: one turn\'s commands in one write, replies as the other paths give them', async (t) => {
  const { admin, resolve } = await setup(t)
  const resolved = await resolve()
  const before = await connections(admin)
  const send = leanSender(resolved)
  await send.connected(2000)
  const after = await connections(admin)
  t.equal(after.length, before.length + 1, 'one more connection')

  const reading = await reads(admin)
  const replies = await Promise.all(Array.from({ length: 20 }, async (_, i) => await send.command('set', [`k${i}`, `v☃${i}`])))
  t.equal(await reads(admin) - reading, 2, 'twenty SETs in one read of the server (and the INFO asking)')
  t.same(replies, Array(20).fill('OK'))
  t.equal(await send.command('get', ['k3']), 'v☃3', 'UTF-8 text, lengths in bytes')
  t.equal(await send.command('get', ['none']), null)
  t.equal(await send.command('incrby', ['n', -4]), -4, 'integers as numbers')
  t.same(await send.command('mget', ['k1', 'none']), ['v☃1', null])

  const bytes = Buffer.from([0xff, 0xfe, 0x0d, 0x0a, 0x00])
  await admin.set('b', bytes)
  t.same(await send.getBuffer('b'), bytes, 'bytes that are not UTF-8, as bytes')
  t.equal(await send.getBuffer('none'), null)

  const wrong = await send.command('incr', ['k1']).catch((err: unknown) => err) as Error & { code: string, cause: Error }
  t.equal(wrong.code, 'SCALEOUT_ERR_REDIS_REPLY')
  t.equal(wrong.cause.message, 'ERR value is not an integer or out of range')
  t.equal(await send.command('get', ['k2']), 'v☃2', 'the next reply still finds its command')

  // A burst far longer than the queue's compaction threshold, answered in order.
  const burst = await Promise.all(Array.from({ length: 3000 }, async (_, i) => await send.command('echo', [String(i)])))
  t.same(burst, Array.from({ length: 3000 }, (_, i) => String(i)))
})

t.test('scripts: EVAL first on a connection, EVALSHA after, EVAL again after a flush or a new connection', async (t) => {
  const { server, admin, resolve } = await setup(t)
  const resolved = await resolve()
  const before = await connections(admin)
  const send = leanSender(resolved)
  // Sent before the connection is up: it goes out as EVAL when it is.
  const early = await server.countCommands(async () => await send.script(ECHO, ['s'], ['one', 1]))
  t.same(early.result, [1, 'one', null], 'a Lua false reads as null (RESP2)')
  t.same(early.commands.eval, 1)
  const second = await server.countCommands(async () => await send.script(ECHO, ['s'], ['two', 2]))
  t.same(second.commands, { evalsha: 1, set: 1, get: 1 }, 'the connection it went out on knows it')
  await admin.script('FLUSH')
  const flushed = await server.countCommands(async () => await send.script(ECHO, ['s'], ['three', 3]))
  t.same(flushed.result, [3, 'three', null])
  t.same(flushed.commands, { evalsha: 1, eval: 1, set: 1, get: 1 }, 'NOSCRIPT, then the script again')
  const link = (await connections(admin)).filter((id) => !before.includes(id))[0] as string

  const [reply, waited] = await send.scriptThen<unknown[], number>(ECHO, ['s'], ['four', 4], ['wait', [0, 0]])
  t.same([reply, waited], [[4, 'four', null], 0], 'a command right behind a script')

  await admin.call('CLIENT', 'KILL', 'ID', link)
  await waitUntil('the link is back', () => send.link().status === 'reconnecting')
  await send.connected(2000)
  const reconnected = await server.countCommands(async () => await send.script(ECHO, ['s'], ['five', 5]))
  t.same(reconnected.commands, { eval: 1, set: 1, get: 1 }, 'a new connection has not been sent it')
})

t.test('the link dropped with commands in flight: they fail coded; ours (no offline queue) fail fast until it is back', async (t) => {
  const { admin, resolve } = await setup(t)
  const { send, link } = await linked(admin, await resolve())
  t.equal(send.link().options.enableOfflineQueue, false, 'the link has our client\'s settings')
  // A command in flight when the connection goes: BLPOP holds it there.
  const inFlight = send.command('blpop', ['nothing', 0]).catch((err: unknown) => err) as Promise<Error & { code: string }>
  await waitUntil('BLPOP is blocked', async () => /blocked_clients:1/.test(await admin.info('clients')))
  await admin.call('CLIENT', 'KILL', 'ID', link)
  t.equal((await inFlight).code, 'SCALEOUT_ERR_REDIS_UNAVAILABLE')
  await waitUntil('the link is down', () => send.link().status === 'reconnecting')
  const meanwhile = await send.command('get', ['k']).catch((err: unknown) => err) as Error & { code: string }
  t.equal(meanwhile.code, 'SCALEOUT_ERR_REDIS_UNAVAILABLE', 'while reconnecting: at once')
  await waitUntil('commands pass again', async () => await send.command('get', ['k']).then(() => true, () => false))
})

t.test('the app\'s client (an offline queue): commands wait for the link to come back, within their bound', async (t) => {
  const { admin, server, resolve } = await setup(t)
  const client = new Redis({ host: server.host, port: server.port, retryStrategy: () => 200 } satisfies RedisOptions)
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  const resolved = await resolve(client)
  t.equal(resolved.owned, false)
  const { send, link } = await linked(admin, resolved, 2000)
  t.equal(send.link().options.enableOfflineQueue, true, 'the link has the app client\'s settings')
  await admin.set('k', 'v')
  await admin.call('CLIENT', 'KILL', 'ID', link)
  await waitUntil('the link is down', () => send.link().status === 'reconnecting')
  t.equal(await send.command('get', ['k']), 'v', 'sent once the link was back')
})

t.test('a reply that is not RESP2 drops the connection; the next one serves', async (t) => {
  const { resolve } = await setup(t)
  const send = leanSender(await resolve())
  await send.connected(2000)
  const err = await send.command('hello', [3]).catch((err: unknown) => err) as Error & { code: string }
  t.equal(err.code, 'SCALEOUT_ERR_REDIS_UNAVAILABLE')
  await waitUntil('commands pass again', async () => await send.command('ping', []).then((reply) => reply === 'PONG', () => false))
})

t.test('a paused Redis: SCALEOUT_ERR_REDIS_TIMEOUT within the bound', async (t) => {
  const { server, resolve } = await setup(t)
  const send = leanSender(await resolve())
  await send.connected(2000)
  server.pause()
  t.teardown(() => { server.resume() })
  const err = await send.command('get', ['k']).catch((err: unknown) => err) as Error & { code: string }
  t.equal(err.code, 'SCALEOUT_ERR_REDIS_TIMEOUT')
  server.resume()
})

t.test('Redis down when the link is made: fail fast once its first attempt failed; closed with the app', async (t) => {
  const { server, app, resolve } = await setup(t)
  const resolved = await resolve()
  await server.kill()
  await waitUntil('the client saw it', () => (resolved.client as Redis).status === 'reconnecting')
  const send = leanSender(resolved)
  const first = send.command('get', ['k']).catch((err: unknown) => err) as Promise<Error & { code: string }>
  t.equal((await first).code, 'SCALEOUT_ERR_REDIS_UNAVAILABLE', 'waited for the first attempt, then failed')
  await send.connected(50)
  await server.restart()
  await waitUntil('commands pass', async () => await send.command('get', ['k']).then(() => true, () => false), 10_000)
  await app.close()
  const closed = await send.command('get', ['k']).catch((err: unknown) => err) as Error & { code: string, cause: Error }
  t.equal(closed.code, 'SCALEOUT_ERR_REDIS_UNAVAILABLE')
  t.equal(closed.cause.message, 'Connection is closed.')
})

t.test('no link where ioredis must handle each command: a key prefix, a socket timeout, a Cluster-less foreign client', async (t) => {
  const { admin, resolve } = await setup(t)
  for (const option of [{ keyPrefix: 'p:' }, { socketTimeout: 5000 }]) {
    const resolved = await resolve(option)
    await (resolved.client as Redis).ping()
    const before = await connections(admin)
    const send = leanSender(resolved)
    await send.connected(2000)
    t.equal(await send.command('set', ['x', '1']), 'OK')
    t.same(await send.getBuffer('x'), Buffer.from('1'))
    t.same(await connections(admin), before, `${Object.keys(option)[0] as string}: no connection of its own`)
  }
  t.equal(await admin.get('p:x'), '1', 'the prefix applied')
})

t.test('the link of a client the app passed goes silent: it is reopened (the app\'s own connection is left alone)', async (t) => {
  const server = await redisFor(t)
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const sink = logSink('warn')
  const app = appFor(t, { logger: sink.logger })
  const client = new Redis(proxy.url)
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  const resolved = await resolveRedis(app, client, { plugin: '@scaleout/test' })
  const send = leanSender(resolved, 200)
  await send.connected(2000)
  t.equal(await send.command('set', ['k', 'v']), 'OK')

  proxy.refuseNew()
  t.equal(proxy.freezeAll(), 2, 'the app\'s connection and the link')
  const first = await send.command('get', ['k']).catch((err: unknown) => err) as Error & { code: string }
  t.equal(first.code, 'SCALEOUT_ERR_REDIS_TIMEOUT')
  proxy.acceptNew()
  await waitUntil('the link answers again', async () => await send.command('get', ['k']).then((value) => value === 'v', () => false), 15_000)
  t.same(sink.lines.filter((line) => /connection silent/.test(line.msg ?? '')).map((line) => line.plugin), ['@scaleout/test'])
  t.equal(client.status, 'ready', 'the app\'s own client: never reopened by us')
})

t.test('the client\'s reconnectOnError: an error reply it names reopens the link; the command fails coded', async (t) => {
  const { admin, resolve } = await setup(t)
  const named: string[] = []
  const resolved = await resolve({ reconnectOnError: (err: Error) => { named.push(err.message); return /^WRONGTYPE/.test(err.message) ? 1 : false } })
  const { send, link } = await linked(admin, resolved)
  await admin.set('text', 'x')
  await admin.rpush('list', 'x')
  const kept = await send.command('incr', ['text']).catch((err: unknown) => err) as Error & { code: string }
  t.equal(kept.code, 'SCALEOUT_ERR_REDIS_REPLY')
  t.ok((await connections(admin)).includes(link), 'an error it does not name: the same connection')
  const reopening = await send.command('get', ['list']).catch((err: unknown) => err) as Error & { code: string }
  t.equal(reopening.code, 'SCALEOUT_ERR_REDIS_REPLY')
  await waitUntil('a new link', async () => !(await connections(admin)).includes(link) && send.link().status === 'ready')
  t.equal(await send.command('get', ['text']), 'x')
  t.same(named.map((message) => message.split(' ')[0]), ['ERR', 'WRONGTYPE'])
})

t.test('the app\'s client (an offline queue): a command its deadline failed while the link was down is never sent', async (t) => {
  const { admin, server, resolve } = await setup(t)
  const client = new Redis({ host: server.host, port: server.port, retryStrategy: () => 50 } satisfies RedisOptions)
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  const { send, link } = await linked(admin, await resolve(client), 300)
  // Paused, Redis still takes connections but answers nothing: the link cannot be ready again.
  await admin.call('CLIENT', 'KILL', 'ID', link)
  await waitUntil('the link is down', () => send.link().status !== 'ready')
  server.pause()
  t.teardown(() => { server.resume() })
  const expired = await send.command('set', ['expired', '1']).catch((err: unknown) => err) as Error & { code: string }
  t.equal(expired.code, 'SCALEOUT_ERR_REDIS_TIMEOUT')
  const waited = send.command('set', ['waited', '1'])
  server.resume()
  t.equal(await waited, 'OK', 'sent once the link was back')
  t.same(await admin.mget('expired', 'waited'), [null, '1'], 'the failed one was dropped, not sent late')
})

t.test('a client without ioredis\'s ready check: the link still waits for the replies of its handshake (SELECT) before its own', async (t) => {
  const { server, resolve } = await setup(t)
  const db2 = server.client({ db: 2 })
  t.teardown(() => db2.disconnect())
  await db2.set('k', 'in db 2')
  const resolved = await resolve({ db: 2, enableReadyCheck: false })
  const send = leanSender(resolved)
  // Sent at once, before the link is up: it goes out right behind the handshake.
  t.same(await Promise.all([send.command('get', ['k']), send.command('echo', ['x'])]), ['in db 2', 'x'])
})

t.test('TLS (rediss://): the link is a TLS connection made from the client\'s settings', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scaleout-tls-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')]
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' })
  const tlsPort = await freePort()
  const server = await redisFor(t, { args: ['--tls-port', String(tlsPort), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no'] })
  const admin = adminFor(t, server)
  const app = appFor(t)
  const resolved = await resolveRedis(app, { url: `rediss://127.0.0.1:${tlsPort}`, tls: { ca: readFileSync(cert) } }, { plugin: '@scaleout/test' })
  const { send } = await linked(admin, resolved)
  t.equal((send.link().stream as TLSSocket).encrypted, true)
  t.equal(await send.command('set', ['k', 'über TLS']), 'OK')
  t.equal(await send.command('get', ['k']), 'über TLS')
  t.equal(await admin.get('k'), 'über TLS')
})

// Regression: the link read an array reply again from its start at every chunk the socket gave
// (64 KiB), joining all of it anew each time: the bytes copied grew with the square of the reply's
// size, and the event loop was held for seconds by one large LRANGE or script reply.
t.test('a large array reply from Redis is read once, however the socket cuts it', async (t) => {
  const { admin, resolve } = await setup(t)
  const { send } = await linked(admin, await resolve({ commandTimeout: 10_000 }), 10_000)
  const items = Array.from({ length: 100_000 }, (_, i) => `item-${i}`)
  for (let i = 0; i < items.length; i += 10_000) await admin.rpush('list', ...items.slice(i, i + 10_000))
  const value = 'v'.repeat(4 << 20)
  await admin.set('big', value)
  const concat = Buffer.concat
  let copied = 0
  Buffer.concat = (list: readonly Uint8Array[], length?: number): ReturnType<typeof concat> => {
    const joined = concat(list, length)
    copied += joined.length
    return joined
  }
  t.teardown(() => { Buffer.concat = concat })
  const [list, script] = await Promise.all([
    send.command<string[]>('lrange', ['list', 0, -1]),
    send.command<unknown[]>('eval', ["return { 1, redis.call('GET', KEYS[1]) }", 1, 'big'])
  ])
  Buffer.concat = concat
  t.same(list, items)
  t.same(script, [1, value])
  const sent = 12 + items.reduce((sum, item) => sum + `$${item.length}\r\n${item}\r\n`.length, 0) + value.length + 20
  t.ok(copied < 2 * sent, `${copied} bytes copied for ${sent} received`)
})

// Regression: the reader recursed once per nesting level and overflowed the call stack on this
// reply (RangeError): the link dropped the connection and the script failed as unavailable.
t.test('a script\'s table nested 5000 deep, as Redis returns it, is read whole', async (t) => {
  const { admin, resolve } = await setup(t)
  const { send } = await linked(admin, await resolve())
  const reply = await send.command<unknown>('eval', ['local t = { 7 } for i = 2, 5000 do t = { t } end return t', 0])
  let levels = 0
  let item = reply
  while (Array.isArray(item)) {
    item = item[0]
    levels++
  }
  t.same([levels, item], [5000, 7])
  t.equal(await send.command('ping', []), 'PONG', 'the same connection serves on')
})

// The pairing of replies with commands is by position: a reply that comes after its command timed
// out must still be taken by that command (and dropped), never by the next one.
t.test('replies that come after their commands timed out are not given to the commands after them', async (t) => {
  const { server, admin, resolve } = await setup(t)
  const { send } = await linked(admin, await resolve())
  await admin.mset('k0', 'v0', 'k1', 'v1', 'k2', 'v2', 'k3', 'v3', 'k4', 'v4')
  server.pause()
  t.teardown(() => { server.resume() })
  const timedOut = await Promise.all(['k0', 'k1', 'k2'].map(async (key) => await send.command('get', [key]).catch((err: { code: string }) => err.code)))
  t.same(timedOut, Array(3).fill('SCALEOUT_ERR_REDIS_TIMEOUT'))
  const sentWhilePaused = send.command('get', ['k3'])
  server.resume()
  t.equal(await sentWhilePaused, 'v3', 'after three late replies, its own')
  t.same(await Promise.all([send.command('get', ['k4']), send.command('get', ['k0'])]), ['v4', 'v0'])
  t.equal(send.link().status, 'ready', 'on the same connection')
})

// Regression: the link wrote a turn's commands at setImmediate, behind a QUIT that closing the
// client wrote at once. Redis answered QUIT and closed without reading them, and QUIT's "OK" was
// taken for the first one's reply (a GET resolved to "OK").
t.test('commands sent in the turn the link quits go out ahead of QUIT; later ones fail; none takes QUIT\'s reply', async (t) => {
  const { server, admin, resolve } = await setup(t)
  const { send } = await linked(admin, await resolve())
  await admin.set('k', 'stored')
  // Paused, Redis reads nothing until every write of this turn and the next is on the socket.
  server.pause()
  t.teardown(() => { server.resume() })
  const before = send.command('get', ['k'])
  const closing = closeClient(send.link())
  const after = send.command('get', ['k']).catch((err: unknown) => err) as Promise<Error & { code: string, cause: Error }>
  await new Promise((resolve) => setImmediate(resolve))
  server.resume()
  t.equal(await before, 'stored')
  const refused = await after
  t.equal(refused.code, 'SCALEOUT_ERR_REDIS_UNAVAILABLE')
  t.equal(refused.cause.message, 'Connection is closed.')
  await closing
  t.equal(send.link().status, 'end')
})
