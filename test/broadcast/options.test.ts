import t from 'tap'
import { Redis } from 'ioredis'
import broadcast from '@scaleout/broadcast'
import { adminFor, appFor, logSink, redisFor, waitUntil } from '../helpers/index.js'

t.test('options', async (t) => {
  const server = await redisFor(t)

  const bad: Array<[string, unknown, RegExp]> = [
    ['options', Object.create({ redis: 'x' }), /option `options` is invalid: expected an object/],
    ['unknown', { redis: server.url, channels: 1 }, /option `channels` is invalid: expected no such option: the options are redis, prefix, sharded/],
    ['a typo', { redis: server.url, timout: 100 }, /option `timout` is invalid: expected no such option: did you mean `timeout`\?/],
    ['a typo of a heartbeat option', { redis: server.url, hearbeatMisses: 3 }, /option `hearbeatMisses` is invalid: expected no such option: did you mean `heartbeatMisses`\?/],
    ['logSerializers (a Fastify register key)', { redis: server.url, logSerializers: {} }, /option `logSerializers` is invalid: expected no such option: `logSerializers` is a Fastify register option/],
    ['logLevel (a Fastify register key)', { redis: server.url, logLevel: 'warn' }, /option `logLevel` is invalid: expected no such option: `logLevel` is a Fastify register option/],
    ['prefix', { redis: server.url, prefix: 'has space' }, /option `prefix` is invalid/],
    ['sharded', { redis: server.url, sharded: 'yes' }, /option `sharded` is invalid: expected a boolean/],
    ['maxBytes', { redis: server.url, maxBytes: 0 }, /option `maxBytes` is invalid: expected an integer from 1 to 4194304$/],
    // Once up to 64 MiB: past Redis's stock pub/sub output-buffer limit (32 MB) a message was
    // reported accepted, reached no instance and got every subscriber disconnected.
    ['maxBytes past what stock Redis pub/sub carries', { redis: server.url, maxBytes: 4 * 1024 * 1024 + 1 }, /option `maxBytes` is invalid: expected an integer from 1 to 4194304$/],
    ['maxPayloadBytes (renamed)', { redis: server.url, maxPayloadBytes: 1000 }, /option `maxPayloadBytes` is invalid: expected `maxBytes` \(the option was renamed/],
    ['publishTimeout (renamed)', { redis: server.url, publishTimeout: 1000 }, /option `publishTimeout` is invalid: expected `timeout` \(the option was renamed/],
    ['allowedOrigins', { redis: server.url, allowedOrigins: 'https://a.example' }, /option `allowedOrigins` is invalid: expected an array of origins/],
    ['allowedOrigins entry', { redis: server.url, allowedOrigins: ['https://a.example/path'] }, /option `allowedOrigins` is invalid/],
    ['allowedOrigins null', { redis: server.url, allowedOrigins: ['null'] }, /option `allowedOrigins` is invalid/],
    ['allowedOrigins number', { redis: server.url, allowedOrigins: [443] }, /option `allowedOrigins` is invalid/],
    ['allowedOrigins scheme', { redis: server.url, allowedOrigins: ['ftp://a.example'] }, /option `allowedOrigins` is invalid/],
    ['timeout', { redis: server.url, timeout: '0ms' }, /option `timeout` is invalid: expected a duration from 1ms to 1m: a number of milliseconds/],
    ['timeout too long', { redis: server.url, timeout: 60_001 }, /option `timeout` is invalid: expected a duration from 1ms to 1m/],
    ['timeout unparsable', { redis: server.url, timeout: 'soon' }, /option `timeout` is invalid: expected a duration/],
    ['heartbeatInterval', { redis: server.url, heartbeatInterval: true }, /option `heartbeatInterval` is invalid: expected a duration from 1ms to/],
    ['heartbeatInterval 0', { redis: server.url, heartbeatInterval: 0 }, /option `heartbeatInterval` is invalid: expected a duration from 1ms to/],
    ['heartbeatMisses', { redis: server.url, heartbeatMisses: 0 }, /option `heartbeatMisses` is invalid/],
    ['dedupWindow', { redis: server.url, dedupWindow: 1.5 }, /option `dedupWindow` is invalid/],
    ['maxBufferedBytes', { redis: server.url, maxBufferedBytes: -1 }, /option `maxBufferedBytes` is invalid/],
    ['maxChannelsPerSocket', { redis: server.url, maxChannelsPerSocket: 0 }, /option `maxChannelsPerSocket` is invalid/],
    ['redis', { redis: 42 }, /option `redis` is invalid/]
  ]
  for (const [name, options, message] of bad) {
    t.test(`a bad ${name} fails registration with a coded error, before anything is decorated`, async (t) => {
      const app = appFor(t)
      app.register(broadcast, options as never)
      await t.rejects(async () => { await app.ready() }, { code: 'SCALEOUT_ERR_INVALID_OPTION', message })
      t.equal(app.hasDecorator('broadcast'), false)
    })
  }

  t.test('no Redis configured at all', async (t) => {
    const saved = process.env.REDIS_URL
    delete process.env.REDIS_URL
    t.teardown(() => { if (saved !== undefined) process.env.REDIS_URL = saved })
    const app = appFor(t)
    app.register(broadcast)
    await t.rejects(async () => { await app.ready() }, { code: 'SCALEOUT_ERR_REDIS_NOT_CONFIGURED' })
  })

  // ioredis prefixes shard channels like keys: every message was dropped without a word, and the
  // subscriber reconnected again and again.
  t.test('a client with keyPrefix is refused for sharded pub/sub, and works for classic pub/sub', async (t) => {
    const prefixed = new Redis(server.url, { keyPrefix: 'myapp:' })
    t.teardown(() => prefixed.disconnect())
    const refused = appFor(t)
    refused.register(broadcast, { redis: prefixed, sharded: true })
    await t.rejects(async () => { await refused.ready() }, { code: 'SCALEOUT_ERR_INVALID_OPTION', message: '@scaleout/broadcast: option `redis` is invalid: expected a client without keyPrefix for sharded pub/sub (ioredis would prefix the shard channels, and no message would be recognised): pass one without it, or sharded: false' })
    const classic = appFor(t)
    await classic.register(broadcast, { redis: prefixed, heartbeatInterval: false })
    const other = appFor(t)
    await other.register(broadcast, { redis: server.url, heartbeatInterval: false })
    const seen: unknown[] = []
    other.broadcast.subscribe('news', (message) => { seen.push(message) })
    await classic.ready()
    await waitUntil('subscribed', async () => (await prefixed.call('PUBSUB', 'NUMSUB', 'scaleout:broadcast:c:news') as [string, number])[1] === 1)
    t.match(await classic.broadcast.publish('news', 'hello'), { remote: true, receivers: 1 })
    await waitUntil('delivered', () => seen.length === 1)
    t.same(seen, ['hello'])
  })

  t.test('defaults, custom prefix, durations as strings, and a caller-owned client left open', async (t) => {
    const mine = new Redis(server.url)
    t.teardown(() => mine.disconnect())
    const app = appFor(t)
    await app.register(broadcast, { redis: mine, prefix: 'app1:bc:', timeout: '2s', heartbeatInterval: '50ms', heartbeatMisses: 3, dedupWindow: 2 })
    t.equal(app.broadcast.sharded, false)
    t.match(app.broadcast.instanceId, /^[\w.-]+:\d+:[0-9a-f]{8}$/)
    t.ok(Object.isFrozen(app.broadcast))
    const seen: string[] = []
    app.broadcast.subscribe('x', (m) => { seen.push(m as string) })
    await waitUntil('subscribed', async () => (await mine.call('PUBSUB', 'NUMSUB', 'app1:bc:c:x') as [string, number])[1] === 1)
    t.match(await app.broadcast.publish('x', 'hi'), { receivers: 1 })
    // Let a few heartbeats run (each a PUBLISH on the instance's own channel): heard every time, so no reconnect is forced.
    const home = 'app1:bc:hb:' + app.broadcast.instanceId
    const admin = adminFor(t, server)
    let pings = 0
    admin.on('message', (channel: string) => { if (channel === home) pings++ })
    await admin.subscribe(home)
    await waitUntil('four heartbeats', () => pings >= 4, 5000)
    t.equal(app.broadcast.stats().forcedReconnects, 0)
    await app.close()
    t.equal(mine.status, 'ready')
    t.same(seen, ['hi'])
  })

  t.test('REDIS_URL is used when no option is given', async (t) => {
    const saved = process.env.REDIS_URL
    process.env.REDIS_URL = server.url
    t.teardown(() => { if (saved === undefined) delete process.env.REDIS_URL; else process.env.REDIS_URL = saved })
    const app = appFor(t)
    await app.register(broadcast)
    t.match(await app.broadcast.publish('env', 1), { remote: true, receivers: 0 })
  })
})

t.test('bad arguments get coded errors', async (t) => {
  const server = await redisFor(t)
  const app = appFor(t)
  await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
  // Lone surrogates (both would reach Redis as U+FFFD), a C1 control, a zero-width space, a no-break space.
  for (const channel of ['', 'a b', 'tab\there', 'x'.repeat(257), 42, null, 'user:\uD800', 'user:\uDC00', 'a\u0085b', 'a\u200Bb', 'a\u00A0b']) {
    await t.rejects(app.broadcast.publish(channel as never, 1), { code: 'SCALEOUT_ERR_BROADCAST_CHANNEL', statusCode: 400 })
    t.throws(() => app.broadcast.subscribe(channel as never, () => {}), { code: 'SCALEOUT_ERR_BROADCAST_CHANNEL' })
  }
  t.throws(() => app.broadcast.subscribe('ok', 'nope' as never), { code: 'SCALEOUT_ERR_BROADCAST_HANDLER' })
  t.throws(() => app.broadcast.attach({} as never, ['a', 'b', 'c'], { maxChannels: 2 }), { code: 'SCALEOUT_ERR_BROADCAST_TOO_MANY_CHANNELS', message: 'A socket may join at most 2 channels (asked for 3)' })
  t.equal(app.broadcast.stats().listeners, 0, 'nothing was half-subscribed')
  // Names of any script, and a pair of surrogates that is one character, are printable.
  for (const channel of ['x'.repeat(256), 'chat:日本語', 'room:😀', 'a-b_c.d:e/f']) t.match(await app.broadcast.publish(channel, 1), { remote: true }, channel)
})

t.test('handlers: errors thrown or rejected are logged, the others still run', async (t) => {
  const server = await redisFor(t)
  const sink = logSink('error')
  const { lines } = sink
  const app = appFor(t, { logger: sink.logger })
  await app.register(broadcast, { redis: server.url, heartbeatInterval: false })
  const seen: unknown[] = []
  app.broadcast.subscribe('h', () => { throw new Error('sync boom') })
  app.broadcast.subscribe('h', async () => { throw new Error('async boom') })
  const off = app.broadcast.subscribe('h', (m) => { seen.push(m) })
  t.match(await app.broadcast.publish('h', 1), { delivered: 3 })
  await waitUntil('both logged', () => lines.length === 2)
  t.same(lines.map((l) => (l.err as { message: string }).message).sort(), ['async boom', 'sync boom'])
  t.same(lines.map((l) => l.channel), ['h', 'h'])
  t.same(seen, [1])
  off()
  off()
  t.equal(app.broadcast.stats().listeners, 2, 'unsubscribing twice is harmless')
})
