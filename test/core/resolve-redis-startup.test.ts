import t from 'tap'
import Fastify from 'fastify'
import { resolveRedis, type ResolvedRedis } from '@scaleout/core'
import { freePort, RedisServer } from '../helpers/index.js'

const plugin = '@scaleout/test'
const NOT_REACHABLE = `${plugin}: Redis not reachable yet; requests needing it fail fast until it is`

t.test('start-up against a closed port: the clients of every plugin wait side by side, not one after another', async (t) => {
  const port = await freePort()
  let created = 0
  // How many clients existed when the first one gave up: 1 when each waited its turn.
  let createdAtFirstWarning: number | undefined
  const warnings: string[] = []
  const app = Fastify({
    logger: {
      level: 'warn',
      stream: {
        write: (line: string) => {
          const msg = (JSON.parse(line) as { msg: string }).msg
          if (msg === NOT_REACHABLE) {
            warnings.push(msg)
            createdAtFirstWarning ??= created
          }
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
  t.same(warnings, [NOT_REACHABLE, NOT_REACHABLE, NOT_REACHABLE, NOT_REACHABLE], 'one warning per client')
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
  t.notOk(warnings.includes(NOT_REACHABLE))
})
