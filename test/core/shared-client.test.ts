import t, { type Test } from 'tap'
import { performance } from 'node:perf_hooks'
import type { FastifyInstance } from 'fastify'
import fastifyRedis from '@fastify/redis'
import { Redis } from 'ioredis'
import session from '@scaleout/session'
import { appFor, logSink, redisFor, type LogSink, type RedisServer } from '../helpers/index.js'

// The Fastify-native set-up: the app registers @fastify/redis once (ioredis's defaults: no command
// timeout, an offline queue) and every plugin uses fastify.redis. The request path must behave as
// with a client the plugin creates: the same Redis commands per request, the same bound, the same
// coded errors.

const SECRET = 'a-secret-of-at-least-thirty-two-characters'

async function sessionApp (t: Test, redis: { url: string } | 'fastify.redis', server: RedisServer, keyPrefix?: string, sink?: LogSink): Promise<FastifyInstance> {
  const app = appFor(t, sink === undefined ? {} : { logger: sink.logger })
  if (redis === 'fastify.redis') {
    await app.register(fastifyRedis, { host: server.host, port: server.port, ...(keyPrefix !== undefined ? { keyPrefix } : {}) })
    await app.register(session, { secret: SECRET, timeout: 300 })
  } else {
    await app.register(session, { secret: SECRET, redis: redis.url, timeout: 300 })
  }
  app.post('/login', async (request) => {
    await request.session.regenerate()
    request.session.set('userId', 'ada')
    return { ok: true }
  })
  app.get('/read', async (request) => ({ user: request.session.get('userId') ?? null }))
  app.get('/modify', async (request) => {
    const n = ((request.session.get('counter') as number | undefined) ?? 0) + 1
    request.session.set('counter', n)
    return { n }
  })
  await app.ready()
  return app
}

/** Logs in, then reads and modifies twice; returns the Redis commands each step cost. */
async function journey (server: RedisServer, app: FastifyInstance): Promise<Array<Record<string, number>>> {
  const steps: Array<Record<string, number>> = []
  const login = await server.countCommands(async () => await app.inject({ method: 'POST', url: '/login' }))
  steps.push(login.commands)
  const cookie = (login.result.headers['set-cookie'] as string).split(';')[0] as string
  for (const url of ['/read', '/modify', '/read', '/modify']) {
    const { result, commands } = await server.countCommands(async () => await app.inject({ url, headers: { cookie } }))
    if (result.statusCode !== 200) throw new Error(`${url} answered ${result.statusCode}`)
    steps.push(commands)
  }
  return steps
}

declare module '@scaleout/session' {
  interface SessionData { counter?: number }
}

t.test('a session on fastify.redis costs the same Redis commands per request as on its own client', async (t) => {
  const server = await redisFor(t)
  const own = await journey(server, await sessionApp(t, { url: server.url }, server))
  const shared = await journey(server, await sessionApp(t, 'fastify.redis', server))
  t.same(shared, own)
  t.same(own.slice(1), [{ getex: 1 }, { getex: 1, append: 1, pexpire: 1 }, { getex: 1 }, { getex: 1, append: 1, pexpire: 1 }], 'a read is one GETEX; a change one APPEND with a PEXPIRE behind it')
})

t.test('a session on fastify.redis with a key prefix keeps its keys under it', async (t) => {
  const server = await redisFor(t)
  const app = await sessionApp(t, 'fastify.redis', server, 'app1:')
  const steps = await journey(server, app)
  t.equal(steps.length, 5)
  const admin = server.client()
  t.teardown(() => admin.disconnect())
  const keys = await admin.keys('*')
  t.ok(keys.length > 0 && keys.every((k) => k.startsWith('app1:')), `every key under the prefix: ${keys.join(', ')}`)
})

t.test('a paused Redis behind fastify.redis (no command timeout): a request fails within the bound, caused by the coded Redis timeout', async (t) => {
  const server = await redisFor(t)
  const sink = logSink('warn')
  const app = await sessionApp(t, 'fastify.redis', server, undefined, sink)
  t.equal((app as unknown as { redis: Redis }).redis.options.commandTimeout, undefined, 'the app\'s client has no timeout of its own')
  const login = await app.inject({ method: 'POST', url: '/login' })
  const cookie = (login.headers['set-cookie'] as string).split(';')[0] as string

  server.pause()
  t.teardown(() => server.resume())
  const started = performance.now()
  const res = await app.inject({ url: '/read', headers: { cookie } })
  const elapsed = performance.now() - started
  t.equal(res.statusCode, 503)
  t.match(res.json(), { code: 'SCALEOUT_ERR_SESSION_UNAVAILABLE' })
  const warned = sink.lines.find((l) => l.msg === '@scaleout/session: session could not be loaded') as unknown as { err: { message: string } }
  t.equal(warned.err.message, 'The session store is unavailable; try again shortly: Redis did not answer within 300ms', 'caused by the coded Redis timeout')
  t.ok(elapsed >= 300 && elapsed < 2000, `failed after ${Math.round(elapsed)}ms`)
  server.resume()
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { user: 'ada' }, 'works again once Redis answers')
})
