import t from 'tap'
import Fastify from 'fastify'
import { resolveRedis, type ResolvedRedis } from '@scaleout/core'
import { freePort, logSink, RedisServer, waitUntil } from '../helpers/index.js'

const plugin = '@scaleout/test'
const notReachable = (address: string, who = plugin): string =>
  `${who}: Redis at ${address} not reachable yet; requests needing it fail fast until it is (one warning for every plugin of the app using it)`

t.test('start-up against a closed port: the clients of every plugin wait side by side, not one after another', async (t) => {
  const port = await freePort()
  const NOT_REACHABLE = notReachable(`127.0.0.1:${port}`)
  let created = 0
  // How many clients existed when the first one gave up: 1 when each waited its turn.
  let createdAtFirstWarning: number | undefined
  const warnings: string[] = []
  const app = Fastify({
    logger: {
      level: 'warn',
      stream: {
        write: (line: string) => {
          warnings.push((JSON.parse(line) as { msg: string }).msg)
          createdAtFirstWarning ??= created
        }
      }
    }
  })
  const clients: ResolvedRedis[] = []
  // Like four plugins, each resolving its client during its own registration.
  for (let i = 0; i < 4; i++) {
    app.register(async (instance) => {
      clients.push(await resolveRedis(instance, `redis://127.0.0.1:${port}`, { plugin, readyTimeoutMs: 1500 }))
      created++
    })
  }
  await app.ready()
  t.equal(createdAtFirstWarning, 4, 'every client was created before the first one gave up')
  t.same(warnings, [NOT_REACHABLE], 'one warning for the four clients of one address, none for their failed attempts')
  t.same(clients.map((c) => c.client.status === 'ready'), [false, false, false, false])
  await app.close()
})

t.test('start-up against a reachable server: each client is ready when its registration ends, with no warning', async (t) => {
  const server = await RedisServer.start()
  t.teardown(async () => await server.stop())
  const warnings: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { warnings.push((JSON.parse(line) as { msg: string }).msg) } } } })
  const statuses: string[] = []
  for (let i = 0; i < 3; i++) {
    app.register(async (instance) => {
      const resolved = await resolveRedis(instance, server.url, { plugin })
      statuses.push(resolved.client.status)
    })
  }
  await app.ready()
  t.same(statuses, ['ready', 'ready', 'ready'])
  t.same(warnings, [])
  await app.close()
})

t.test('a client closed before its wait ends is not reported as unreachable', async (t) => {
  const port = await freePort()
  const warnings: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { warnings.push((JSON.parse(line) as { msg: string }).msg) } } } })
  await resolveRedis(app, `redis://127.0.0.1:${port}`, { plugin, readyTimeoutMs: 60_000 })
  await app.close()
  t.same(warnings, [])
})

t.test('start-up against two closed ports: one warning per address, naming the plugin that noticed it', async (t) => {
  const [a, b] = [await freePort(), await freePort()]
  const sink = logSink('warn')
  const app = Fastify({ logger: sink.logger })
  app.register(async (instance) => { await resolveRedis(instance, `redis://127.0.0.1:${a}`, { plugin: '@scaleout/one', readyTimeoutMs: 300 }) })
  app.register(async (instance) => { await resolveRedis(instance, `redis://127.0.0.1:${b}`, { plugin: '@scaleout/two', readyTimeoutMs: 300 }) })
  app.register(async (instance) => { await resolveRedis(instance, `redis://127.0.0.1:${b}`, { plugin: '@scaleout/three', readyTimeoutMs: 300 }) })
  await app.ready()
  t.same(sink.messages(40).sort(), [notReachable(`127.0.0.1:${a}`, '@scaleout/one'), notReachable(`127.0.0.1:${b}`, '@scaleout/two')])
  t.match(sink.lines[0], { err: { code: 'ECONNREFUSED' }, source: 'url' }, 'the line carries the last connection error')
  await app.close()
})

t.test('start-up against closed ports of a Cluster or behind Sentinels: the warning names the startup nodes, or the master', async (t) => {
  const [a, b, c] = [await freePort(), await freePort(), await freePort()]
  const sink = logSink('warn')
  const app = Fastify({ logger: sink.logger })
  await resolveRedis(app, { cluster: [`redis://127.0.0.1:${a}`, `redis://127.0.0.1:${b}`] }, { plugin, readyTimeoutMs: 300 })
  await resolveRedis(app, { sentinels: [{ host: '127.0.0.1', port: c }], name: 'mymaster' }, { plugin, readyTimeoutMs: 300 })
  await app.ready()
  t.same(sink.messages(40).sort(), [notReachable(`127.0.0.1:${a},127.0.0.1:${b}`), notReachable('sentinel master mymaster')])
  await app.close()
})

t.test('an outage after start-up: one warning for a client and its duplicates together, and one again for the next outage', async (t) => {
  const server = await RedisServer.start()
  t.teardown(async () => await server.stop())
  const sink = logSink('warn')
  const app = Fastify({ logger: sink.logger })
  t.teardown(async () => await app.close())
  const resolved = await resolveRedis(app, server.url, { plugin })
  const clients = [resolved.client, resolved.duplicate(), resolved.duplicate()]
  const errors = new Map(clients.map((c) => [c, 0]))
  for (const c of clients) c.on('error', () => errors.set(c, (errors.get(c) ?? 0) + 1))
  const allReady = async (): Promise<void> => {
    await Promise.all(clients.map(async (c) => { if (c.status !== 'ready') await new Promise((resolve) => c.once('ready', resolve)) }))
  }
  await app.ready()
  await allReady()
  const WARNING = `${plugin}: Redis connection error`
  for (let outage = 1; outage <= 2; outage++) {
    await server.kill()
    const before = new Map(errors)
    await waitUntil('every connection failed twice', () => clients.every((c) => (errors.get(c) ?? 0) >= (before.get(c) ?? 0) + 2))
    t.same(sink.messages(40), Array(outage).fill(WARNING), `outage ${outage}: one warning`)
    await server.restart()
    await allReady()
  }
})
