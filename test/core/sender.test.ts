import t, { type Test } from 'tap'
import Fastify from 'fastify'
import type { Redis } from 'ioredis'
import { luaScript, resolveRedis, senderFor, type ResolvedRedis } from '@scaleout/core'
import { RedisServer } from '../helpers/index.js'

// senderFor(): on a standalone client we created, commands go out as bare ioredis Commands on a
// connection corked for the turn; on any other client, through client.call() and bounded().
// Both must answer alike, code the same errors, and send scripts the way ioredis does.

const ECHO = luaScript('scaleoutTestEcho', 1, "redis.call('SET', KEYS[1], ARGV[1]) return tonumber(ARGV[2])")

/** A fresh Redis; `ours()` makes a client as the plugins do (owned), `callers` is one of the caller's. */
async function setup (t: Test): Promise<{ server: RedisServer, ours: (options?: Record<string, unknown>) => Promise<ResolvedRedis>, callers: Redis }> {
  const server = await RedisServer.start()
  t.teardown(async () => await server.stop())
  const app = Fastify()
  t.teardown(async () => await app.close())
  const callers = server.client()
  t.teardown(() => callers.disconnect())
  const ours = async (options = {}): Promise<ResolvedRedis> => await resolveRedis(app, { url: server.url, commandTimeout: 300, ...options }, { plugin: '@scaleout/test' })
  return { server, ours, callers }
}

/** `INFO stats` total_reads_processed: how many socket reads the server has made, all clients. */
async function reads (admin: Redis): Promise<number> {
  const info = await admin.info('stats')
  return Number(/total_reads_processed:(\d+)/.exec(info)?.[1])
}

t.test('a client we made: one turn\'s commands leave in one write; replies as text; key prefix kept', async (t) => {
  const { ours: make, callers: admin } = await setup(t)
  const ours = await make({ keyPrefix: 'p:' })
  const send = senderFor(ours.client, ours.owned, 2000)

  const before = await reads(admin)
  const replies = await Promise.all(Array.from({ length: 20 }, async (_, i) => await send.command('set', [`k${i}`, `v${i}`])))
  const after = await reads(admin)
  t.same(replies, Array(20).fill('OK'))
  t.equal(after - before, 2, 'twenty commands, one read by the server (the other read is the INFO asking)')

  t.equal(await send.command('get', ['k3']), 'v3')
  t.equal(await send.command('get', ['missing']), null)
  t.equal(await send.command('incrby', ['n', 5]), 5)
  t.equal(await admin.get('p:k3'), 'v3', 'the client\'s key prefix applies')
  t.equal(await admin.get('k3'), null)
  await t.rejects(send.command('hget', ['k3', 'f']), { code: 'SCALEOUT_ERR_REDIS_REPLY', message: 'Redis refused the command (WRONGTYPE)' }, 'command errors are coded, without Redis\'s text')
})

t.test('scripts: EVAL first on each connection, EVALSHA after, EVAL again after a flush', async (t) => {
  const { server, ours: make, callers } = await setup(t)
  const ours = await make({ keyPrefix: 'p:' })
  const admin = server.client()
  t.teardown(() => admin.disconnect())

  for (const [name, send] of [['ours', senderFor(ours.client, ours.owned, 2000, [ECHO])], ['a caller\'s', senderFor(callers, false, 2000, [ECHO])]] as const) {
    const first = await server.countCommands(async () => await send.script(ECHO, ['s'], ['one', 7]))
    t.equal(first.result, 7, `${name}: the script's reply`)
    t.same(first.commands, { eval: 1, set: 1 }, `${name}: first use on this connection sends the script itself`)
    const second = await server.countCommands(async () => await send.script(ECHO, ['s'], ['two', 8]))
    t.same(second.commands, { evalsha: 1, set: 1 }, `${name}: then only its digest`)
    await admin.script('FLUSH')
    const flushed = await server.countCommands(async () => await send.script(ECHO, ['s'], ['three', 9]))
    t.equal(flushed.result, 9)
    t.same(flushed.commands, { evalsha: 1, eval: 1, set: 1 }, `${name}: NOSCRIPT, then the script again`)
  }
  t.equal(await admin.get('p:s'), 'three', 'our client\'s key prefix applies to script keys')
  t.equal(await admin.get('s'), 'three')

  // A new connection (Redis dropped the old one) has not been sent the script: EVAL again.
  const send = senderFor(ours.client, ours.owned, 2000, [ECHO])
  await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
  await new Promise<void>((resolve) => { ours.client.once('ready', resolve) })
  const reconnected = await server.countCommands(async () => await send.script(ECHO, ['s'], ['four', 10]))
  t.same(reconnected.commands, { eval: 1, set: 1 })
})

t.test('a paused Redis: our client fails on its own timeout, a caller\'s within the bound; both coded', async (t) => {
  const { server, ours: make, callers } = await setup(t)
  const ours = await make()
  const slowTimeout = await make({ commandTimeout: 5000 })
  const noTimeout = await make({ commandTimeout: undefined })
  const mine = senderFor(ours.client, ours.owned, 2000, [ECHO])
  const theirs = senderFor(callers, false, 2000)
  const slow = senderFor(slowTimeout.client, slowTimeout.owned, 200)
  const unbounded = senderFor(noTimeout.client, noTimeout.owned, 200)
  await mine.script(ECHO, ['s'], ['loaded', 1])

  server.pause()
  t.teardown(() => server.resume())
  await t.rejects(mine.command('get', ['k']), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', message: 'Redis did not answer within 300ms' })
  await t.rejects(mine.script(ECHO, ['s'], ['x', 1]), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', message: 'Redis did not answer within 300ms' })
  await t.rejects(theirs.command('get', ['k']), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', message: 'Redis did not answer within 2000ms' })
  await t.rejects(slow.command('get', ['k']), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', message: 'Redis did not answer within 200ms' }, 'our client with a longer timeout: bounded()')
  await t.rejects(unbounded.command('get', ['k']), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', message: 'Redis did not answer within 200ms' }, 'our client with no timeout: bounded()')
  server.resume()
  t.equal(await mine.command('get', ['s']), 'x', 'a script already on the wire runs when Redis wakes')
})

t.test('Redis gone: our client fails at once with a coded error, and works again when it is back', async (t) => {
  const { server, ours: make } = await setup(t)
  const ours = await make()
  const send = senderFor(ours.client, ours.owned, 2000, [ECHO])
  await send.command('set', ['k', 'v'])
  await server.kill()
  await t.rejects(send.command('get', ['k']), { code: 'SCALEOUT_ERR_REDIS_UNAVAILABLE' })
  await t.rejects(send.script(ECHO, ['s'], ['x', 1]), { code: 'SCALEOUT_ERR_REDIS_UNAVAILABLE' })
  await server.restart()
  await new Promise<void>((resolve) => { ours.client.once('ready', resolve) })
  t.equal(await send.script(ECHO, ['s'], ['back', 2]), 2)
  t.equal(await send.command('get', ['s']), 'back')
})

t.test('a script the sender was not given is a programming error, on either path', async (t) => {
  const { ours: make, callers } = await setup(t)
  const ours = await make()
  const message = 'script scaleoutTestEcho was not given to senderFor()'
  await t.rejects(senderFor(ours.client, ours.owned, 2000).script(ECHO, ['s'], ['x', 1]), { message })
  await t.rejects(senderFor(callers, false, 2000).script(ECHO, ['s'], ['x', 1]), { message })
  t.equal(await callers.exists('s'), 0, 'nothing was sent')
})

t.test('a lazy client of ours, before its first connection: the script is queued and sent whole', async (t) => {
  const { server, ours: make } = await setup(t)
  const lazy = await make({ lazyConnect: true, enableOfflineQueue: true })
  t.equal(lazy.client.status, 'wait')
  const send = senderFor(lazy.client, lazy.owned, 2000, [ECHO])
  const first = await server.countCommands(async () => await send.script(ECHO, ['s'], ['lazy', 3]))
  t.equal(first.result, 3)
  t.same(first.commands, { hello: 1, eval: 1, set: 1 }, 'the connection\'s own handshake, then the script')
  const second = await server.countCommands(async () => await send.script(ECHO, ['s'], ['again', 4]))
  t.same(second.commands, { eval: 1, set: 1 }, 'the connection it went out on was not known when it was sent: EVAL again, once')
  const third = await server.countCommands(async () => await send.script(ECHO, ['s'], ['then', 5]))
  t.same(third.commands, { evalsha: 1, set: 1 })
})
