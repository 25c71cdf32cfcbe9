import t, { type Test } from 'tap'
import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import { Redis, type RedisOptions } from 'ioredis'
import { luaScript, resolveRedis, senderFor, waitForReady, type RedisClient, type ResolvedRedis } from '@scaleout/core'
import { adminFor, appFor, redisFor, type RedisServer } from '../helpers/index.js'

// senderFor(): on any standalone ioredis client, whoever created it, commands go out as bare
// ioredis Commands on a connection corked for the turn, bounded by the client's own timeout when it
// is within the bound and by the sender's deadline queue otherwise. A client of another copy of
// ioredis (and a Cluster, see resolve-redis-cluster.test.ts) goes through client.call() and
// bounded(). All must answer alike, code the same errors, and send scripts the way ioredis does.

const ECHO = luaScript('scaleoutTestEcho', 1, "redis.call('SET', KEYS[1], ARGV[1]) return tonumber(ARGV[2])")

interface Setup {
  server: RedisServer
  admin: Redis
  /** A client made as the plugins make theirs (owned): our defaults, here a 300 ms command timeout. */
  ours: (options?: Record<string, unknown>) => Promise<ResolvedRedis>
  /** A client the app made itself: ioredis's defaults (no command timeout, an offline queue). */
  users: (options?: RedisOptions) => Redis
}

async function setup (t: Test): Promise<Setup> {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const app = appFor(t)
  const ours = async (options = {}): Promise<ResolvedRedis> => await resolveRedis(app, { url: server.url, commandTimeout: 300, ...options }, { plugin: '@scaleout/test' })
  const users = (options: RedisOptions = {}): Redis => {
    const client = new Redis({ host: server.host, port: server.port, ...options })
    // An app listens for its client's errors (else ioredis prints them); these tests cause some.
    client.on('error', () => {})
    t.teardown(() => client.disconnect())
    return client
  }
  return { server, admin, ours, users }
}

/** The same client seen as one of another copy of ioredis: not an instance of our Redis class. */
function foreign (client: Redis): RedisClient {
  return new Proxy(client, { getPrototypeOf: () => Object.prototype })
}

/** `INFO stats` total_reads_processed: how many socket reads the server has made, all clients. */
async function reads (admin: Redis): Promise<number> {
  const info = await admin.info('stats')
  return Number(/total_reads_processed:(\d+)/.exec(info)?.[1])
}

t.test('ours and the app\'s client alike: one turn\'s commands leave in one write; replies as text; key prefix kept', async (t) => {
  const { admin, ours: make, users } = await setup(t)
  const ours = await make({ keyPrefix: 'p:' })
  const theirs = users({ keyPrefix: 'u:' })
  await theirs.ping()
  for (const [name, client, owned, prefix] of [['ours', ours.client, true, 'p:'], ['the app\'s', theirs, false, 'u:']] as const) {
    const send = senderFor(client, owned, 2000)
    const before = await reads(admin)
    const replies = await Promise.all(Array.from({ length: 20 }, async (_, i) => await send.command('set', [`k${i}`, `v${i}`])))
    const after = await reads(admin)
    t.same(replies, Array(20).fill('OK'))
    t.equal(after - before, 2, `${name}: twenty commands, one read by the server (the other read is the INFO asking)`)

    t.equal(await send.command('get', ['k3']), 'v3')
    t.equal(await send.command('get', ['missing']), null)
    t.equal(await send.command('incrby', ['n', 5]), 5)
    t.equal(await admin.get(`${prefix}k3`), 'v3', `${name}: the client's key prefix applies`)
    t.equal(await admin.get('k3'), null)
    await t.rejects(send.command('hget', ['k3', 'f']), { code: 'SCALEOUT_ERR_REDIS_REPLY', message: 'Redis refused the command (WRONGTYPE)' }, `${name}: command errors are coded, without Redis's text`)
  }
  // The app may change its client's prefix later: the sender follows, as ioredis's own methods do.
  const send = senderFor(theirs, false, 2000)
  theirs.options.keyPrefix = 'v:'
  await send.command('set', ['k', 'moved'])
  t.equal(await admin.get('v:k'), 'moved')
})

t.test('scriptThen: the command follows the script, and follows it again when the script is sent again', async (t) => {
  const { admin, server, ours: make, users } = await setup(t)
  const ours = await make()
  const senders = [
    ['ours', senderFor(ours.client, ours.owned, 2000, [ECHO])],
    ['the app\'s', senderFor(users(), false, 2000, [ECHO])],
    ['another ioredis copy\'s', senderFor(foreign(users()), false, 2000, [ECHO])]
  ] as const
  for (const [name, send] of senders) {
    // WAIT 0 0 on a server without replicas: 0 at once.
    const first = await server.countCommands(async () => await send.scriptThen(ECHO, ['s'], ['one', 7], ['wait', [0, 0]]))
    t.same(first.result, [7, 0], `${name}: both replies`)
    t.same(first.commands, { eval: 1, set: 1, wait: 1 }, name)
    if (name !== 'another ioredis copy\'s') {
      const before = await reads(admin)
      t.same(await send.scriptThen(ECHO, ['s'], ['again', 8], ['wait', [0, 0]]), [8, 0])
      t.equal(await reads(admin) - before, 2, `${name}: the script and the command in one write (the other read is the INFO asking)`)
    }
    await admin.script('FLUSH')
    const flushed = await server.countCommands(async () => await send.scriptThen(ECHO, ['s'], ['three', 9], ['wait', [0, 0]]))
    t.same(flushed.result, [9, 0])
    t.same(flushed.commands, name === 'another ioredis copy\'s' ? { evalsha: 1, eval: 1, set: 1, wait: 1 } : { evalsha: 1, eval: 1, set: 1, wait: 2 }, `${name}: NOSCRIPT, then the script again${name === 'another ioredis copy\'s' ? ' (the command waits for the script\'s reply)' : ', the command behind it again'}`)
    // Both fail (no key for the script, a bad WAIT): the script's error is the one returned.
    await t.rejects(send.scriptThen(ECHO, [], ['x', 1], ['wait', ['x', 0]]), { code: 'SCALEOUT_ERR_REDIS_REPLY', message: 'Redis refused the command (ERR)' }, `${name}: the script's error`)
    await t.rejects(send.scriptThen(ECHO, ['s'], ['x', 1], ['wait', ['x', 0]]), { code: 'SCALEOUT_ERR_REDIS_REPLY' }, `${name}: the command's error`)
  }
})

t.test('scripts: EVAL first on each connection, EVALSHA after, EVAL again after a flush, on every path', async (t) => {
  const { admin, server, ours: make, users } = await setup(t)
  const ours = await make({ keyPrefix: 'p:' })
  const theirs = users({ keyPrefix: 'u:' })
  const other = users({ keyPrefix: 'f:' })
  const senders = [
    ['ours', senderFor(ours.client, ours.owned, 2000, [ECHO])],
    ['the app\'s', senderFor(theirs, false, 2000, [ECHO])],
    ['another ioredis copy\'s', senderFor(foreign(other), false, 2000, [ECHO])]
  ] as const
  for (const [name, send] of senders) {
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
  t.same(await admin.mget('p:s', 'u:s', 'f:s', 's'), ['three', 'three', 'three', null], 'each client\'s key prefix applies to script keys')

  // A new connection (Redis dropped the old one) has not been sent the script: EVAL again.
  for (const [name, client, send] of [['ours', ours.client, senders[0][1]], ['the app\'s', theirs, senders[1][1]]] as const) {
    // Only this client's connection: another client reconnecting meanwhile would show its HELLO here.
    const id = await (client as Redis).client('ID')
    const ready = new Promise<void>((resolve) => { (client as Redis).once('ready', resolve) })
    await admin.call('CLIENT', 'KILL', 'ID', id)
    await ready
    const reconnected = await server.countCommands(async () => await send.script(ECHO, ['s'], ['four', 10]))
    t.same(reconnected.commands, { eval: 1, set: 1 }, `${name}: reconnected`)
  }
})

t.test('the same work costs the same Redis commands through our client and the app\'s', async (t) => {
  const { server, ours: make, users } = await setup(t)
  const ours = await make()
  const theirs = users({ enableAutoPipelining: true })
  await theirs.ping()
  const work = async (client: RedisClient, owned: boolean): Promise<unknown[]> => {
    const send = senderFor(client, owned, 2000, [ECHO])
    const replies: unknown[] = []
    for (let i = 0; i < 3; i++) {
      replies.push(await send.script(ECHO, [`s${i}`], ['x', i]))
      replies.push(...await Promise.all([send.command('get', [`s${i}`]), send.command('getex', [`s${i}`, 'PX', 60000]), send.command('del', ['nothing'])]))
    }
    return replies
  }
  const mine = await server.countCommands(async () => await work(ours.client, true))
  const app = await server.countCommands(async () => await work(theirs, false))
  t.same(app.result, mine.result)
  t.same(mine.commands, { eval: 1, evalsha: 2, set: 3, get: 3, getex: 3, del: 3 })
  t.same(app.commands, mine.commands, 'the app\'s client: the same commands')
})

t.test('a paused Redis: every client fails within the bound with the same coded error', async (t) => {
  const { server, ours: make, users } = await setup(t)
  const ours = await make()
  const slowTimeout = await make({ commandTimeout: 5000 })
  const plain = users()
  const shortTimeout = users({ commandTimeout: 300 })
  const longTimeout = users({ commandTimeout: 5000 })
  const mine = senderFor(ours.client, ours.owned, 2000, [ECHO])
  const theirs = senderFor(plain, false, 300, [ECHO])
  await mine.script(ECHO, ['s'], ['loaded', 1])
  await theirs.script(ECHO, ['t'], ['loaded', 1])
  await Promise.all([slowTimeout.client, shortTimeout, longTimeout].map(async (c) => await c.ping()))

  server.pause()
  t.teardown(() => server.resume())
  const timeout = (ms: number): { code: string, statusCode: number, message: string } => ({ code: 'SCALEOUT_ERR_REDIS_TIMEOUT', statusCode: 503, message: `Redis did not answer within ${ms}ms` })
  await t.rejects(mine.command('get', ['k']), timeout(300), 'ours: its own 300 ms timeout')
  await t.rejects(mine.script(ECHO, ['s'], ['x', 1]), timeout(300))
  await t.rejects(senderFor(slowTimeout.client, slowTimeout.owned, 200).command('get', ['k']), timeout(200), 'ours with a longer timeout: the bound')
  await t.rejects(senderFor(shortTimeout, false, 2000).command('get', ['k']), timeout(300), 'the app\'s with a timeout within the bound: its own')
  await t.rejects(senderFor(longTimeout, false, 200).command('get', ['k']), timeout(200), 'the app\'s with a longer timeout: the bound')
  await t.rejects(senderFor(foreign(plain), false, 200).command('get', ['k']), timeout(200), 'another ioredis copy\'s: bounded()')

  // The app's client has no timeout at all: only the sender's deadline ends the wait.
  const started = performance.now()
  const [command, script] = await Promise.allSettled([theirs.command('get', ['k']), theirs.script(ECHO, ['t'], ['y', 2])])
  const elapsed = performance.now() - started
  t.match(command, { status: 'rejected', reason: timeout(300) })
  t.match(script, { status: 'rejected', reason: timeout(300) })
  t.ok(elapsed >= 300 && elapsed < 2000, `the app's client without a timeout failed after ${Math.round(elapsed)}ms`)

  server.resume()
  // Ours timed out twice with nothing received, so its connection was reopened (see
  // silent-link.test.ts): the new one answers once its ready check has.
  t.equal(await waitForReady(ours.client, 5000), true)
  t.equal(await mine.command('get', ['s']), 'x', 'scripts already on the wire run when Redis wakes')
  t.equal(await theirs.command('get', ['t']), 'y')
})

t.test('Redis gone: ours fails at once; the app\'s queues offline until the bound; both work again when it is back', async (t) => {
  const { server, ours: make, users } = await setup(t)
  const ours = await make()
  const plain = users()
  const mine = senderFor(ours.client, ours.owned, 2000, [ECHO])
  const theirs = senderFor(plain, false, 300, [ECHO])
  await mine.command('set', ['k', 'v'])
  await theirs.command('get', ['k'])
  const closed = Promise.all([ours.client, plain].map(async (c) => await once(c, 'close')))
  await server.kill()
  await closed
  await t.rejects(mine.command('get', ['k']), { code: 'SCALEOUT_ERR_REDIS_UNAVAILABLE' })
  await t.rejects(mine.script(ECHO, ['s'], ['x', 1]), { code: 'SCALEOUT_ERR_REDIS_UNAVAILABLE' })
  await t.rejects(theirs.command('get', ['k']), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', message: 'Redis did not answer within 300ms' }, 'held in the offline queue, failed at the bound')
  await t.rejects(theirs.script(ECHO, ['s'], ['x', 1]), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT' })
  const back = Promise.all([ours.client, plain].map(async (c) => await new Promise((resolve) => { c.once('ready', resolve) })))
  await server.restart()
  await back
  t.equal(await mine.script(ECHO, ['s'], ['back', 2]), 2)
  t.equal(await mine.command('get', ['s']), 'back')
  t.equal(await theirs.script(ECHO, ['t'], ['again', 3]), 3)
  t.equal(await theirs.command('get', ['t']), 'again')
})

t.test('a script the sender was not given is a programming error, on either path', async (t) => {
  const { admin, ours: make, users } = await setup(t)
  const ours = await make()
  const message = 'script scaleoutTestEcho was not given to senderFor()'
  await t.rejects(senderFor(ours.client, ours.owned, 2000).script(ECHO, ['s'], ['x', 1]), { message })
  await t.rejects(senderFor(users(), false, 2000).script(ECHO, ['s'], ['x', 1]), { message })
  await t.rejects(senderFor(foreign(users()), false, 2000).script(ECHO, ['s'], ['x', 1]), { message })
  t.equal(await admin.exists('s'), 0, 'nothing was sent')
})

t.test('a client before its first connection, ours or the app\'s: the script is queued and sent whole', async (t) => {
  const { server, ours: make, users } = await setup(t)
  const lazy = await make({ lazyConnect: true, enableOfflineQueue: true })
  const theirs = users({ lazyConnect: true })
  for (const [name, client, owned] of [['ours', lazy.client, true], ['the app\'s', theirs, false]] as const) {
    t.equal(client.status, 'wait')
    const send = senderFor(client, owned, 2000, [ECHO])
    const first = await server.countCommands(async () => await send.script(ECHO, ['s'], ['lazy', 3]))
    t.equal(first.result, 3)
    t.same(first.commands, { hello: 1, eval: 1, set: 1 }, `${name}: the connection's own handshake, then the script`)
    const second = await server.countCommands(async () => await send.script(ECHO, ['s'], ['again', 4]))
    t.same(second.commands, { eval: 1, set: 1 }, `${name}: the connection it went out on was not known when it was sent: EVAL again, once`)
    const third = await server.countCommands(async () => await send.script(ECHO, ['s'], ['then', 5]))
    t.same(third.commands, { evalsha: 1, set: 1 })
  }
})

// The deadline queue: one timer for the oldest command. Commands stuck behind a blocking one each
// fail at their own deadline; one answered meanwhile is not failed later.
t.test('the app\'s client blocked by a command: each command behind it fails at its own deadline', async (t) => {
  const { admin, users } = await setup(t)
  const plain = users()
  const send = senderFor(plain, false, 300)
  await send.command('set', ['k', 'v'])

  const answered = send.command('get', ['k'])
  const blocked = send.command('blpop', ['list', 0])
  t.equal(await answered, 'v')
  await new Promise((resolve) => setTimeout(resolve, 50))
  const behind = send.command('get', ['k'])
  const [first, second] = await Promise.allSettled([blocked, behind])
  const timeout = { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', message: 'Redis did not answer within 300ms' }
  t.match(first, { status: 'rejected', reason: timeout })
  t.match(second, { status: 'rejected', reason: timeout })
  await admin.lpush('list', 'x')
  t.equal(await send.command('get', ['k']), 'v', 'the connection serves again once unblocked')
})

t.test('thousands of answered commands ahead of a blocked one are dropped, and bounding goes on', async (t) => {
  const { admin, users } = await setup(t)
  const plain = users()
  const send = senderFor(plain, false, 1000)
  const many = Array.from({ length: 1500 }, async (_, i) => await send.command('set', [`k${i}`, i]))
  const blocked = send.command('blpop', ['list', 0])
  t.equal((await Promise.all(many)).length, 1500)
  const behind = send.command('get', ['k7'])
  await admin.lpush('list', 'x')
  t.same(await blocked, ['list', 'x'])
  t.equal(await behind, '7')
  const stuck = send.command('blpop', ['other', 0])
  await t.rejects(stuck, { code: 'SCALEOUT_ERR_REDIS_TIMEOUT', message: 'Redis did not answer within 1000ms' })
  await admin.lpush('other', 'x')
  t.equal(await send.command('get', ['k9']), '9')
})
