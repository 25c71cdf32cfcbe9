import t from 'tap'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { build, cookieOf } from './setup.js'

const UNAVAILABLE = { statusCode: 503, code: 'SCALEOUT_ERR_SESSION_UNAVAILABLE', error: 'Service Unavailable', message: 'The session store is unavailable; try again shortly' }

function routes (app: import('fastify').FastifyInstance): void {
  app.get('/plain', async () => ({ plain: true }))
  app.post('/reload', async (request) => {
    await request.session.reload()
    return { n: request.session.get('n') ?? null }
  })
}

t.test('Redis paused (SIGSTOP): bounded 503 for handlers that use the session, others unaffected, recovery', async (t) => {
  const server = await redisFor(t)
  const mine = adminFor(t, server)
  // A caller-owned client has no command timeout: the plugin's own `timeout` bounds each call.
  const app = await build(t, { redis: mine, timeout: 300 }, {}, routes)
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: 1 })

  server.pause()
  const started = Date.now()
  const read = await app.inject({ url: '/get/n', headers: { cookie } })
  t.equal(read.statusCode, 503)
  t.same(read.json(), UNAVAILABLE)
  t.equal(read.headers['set-cookie'], undefined, 'the cookie is left alone: the user is not logged out')
  t.ok(Date.now() - started < 5000, 'bounded')

  const noCookie = await app.inject('/get/n')
  t.equal(noCookie.statusCode, 200)
  t.same(noCookie.json(), { value: null })
  const unused = await app.inject({ url: '/plain', headers: { cookie } })
  t.equal(unused.statusCode, 200, 'a handler that never uses its session does not care')
  t.equal(unused.headers['set-cookie'], undefined)
  const reload = await app.inject({ method: 'POST', url: '/reload', headers: { cookie } })
  t.equal(reload.statusCode, 503)
  const login = await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u' } })
  t.same(login.json(), UNAVAILABLE, 'saving a new session fails with 503, not 500')
  t.equal(login.headers['set-cookie'], undefined)
  await t.rejects(app.sessions.listFor('u'), { code: 'SCALEOUT_ERR_SESSION_UNAVAILABLE' }, 'listFor is bounded too')
  await t.rejects(app.sessions.destroyAllFor('u'), { code: 'SCALEOUT_ERR_SESSION_UNAVAILABLE' }, 'and destroyAllFor')

  server.resume()
  await waitUntil('reads to work again', async () => (await app.inject({ url: '/get/n', headers: { cookie } })).statusCode === 200)
  t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: 1 })
  t.same((await app.inject({ method: 'POST', url: '/reload', headers: { cookie } })).json(), { n: 1 })
})

t.test('Redis paused while a session is saved or destroyed: 503 (outcome unknown, applied when Redis wakes)', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: { url: server.url, commandTimeout: 300 } }, {}, (app) => {
    app.post('/set-while-paused', async (request) => {
      request.session.set('n', 99)
      server.pause()
      return { ok: true }
    })
    app.post('/destroy-while-paused', async (request) => {
      server.pause()
      await request.session.destroy()
      return { ok: true }
    })
  })
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string

  const res = await app.inject({ method: 'POST', url: '/set-while-paused', headers: { cookie } })
  t.equal(res.statusCode, 503)
  t.same(res.json(), UNAVAILABLE)
  server.resume()
  // The script was already on the wire: a timeout cannot take it back. It is atomic, so the
  // session is either wholly before or wholly after it; here, after.
  await waitUntil('Redis back', async () => (await app.inject({ url: '/get/n', headers: { cookie } })).statusCode === 200)
  t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: 99 })

  const destroy = await app.inject({ method: 'POST', url: '/destroy-while-paused', headers: { cookie } })
  t.same(destroy.json(), UNAVAILABLE)
  t.equal(destroy.headers['set-cookie'], undefined)
  server.resume()
  await waitUntil('Redis back', async () => (await app.inject('/get/n')).statusCode === 200)
  t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: null })
})

t.test('Redis killed while a modified session is saved: 503 and nothing written', async (t) => {
  const server = await redisFor(t, { args: ['--appendonly', 'yes', '--appendfsync', 'always'] })
  const app = await build(t, { redis: server.url }, {}, (app) => {
    app.post('/set-while-killed', async (request) => {
      request.session.set('n', 99)
      request.session.set('other', 'x')
      await server.kill()
      return { ok: true }
    })
  })
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  const res = await app.inject({ method: 'POST', url: '/set-while-killed', headers: { cookie } })
  t.same(res.json(), UNAVAILABLE)
  await server.restart()
  await waitUntil('Redis back', async () => (await app.inject({ url: '/get/n', headers: { cookie } })).statusCode === 200, 20_000, 100)
  t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { n: 1 })
})

t.test('Redis killed and restarted: 503 while down, sessions back after restart (AOF), no app restart', async (t) => {
  const server = await redisFor(t, { args: ['--appendonly', 'yes', '--appendfsync', 'always'] })
  const app = await build(t, { redis: server.url }, {}, routes)
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'k' } })) as string

  await server.kill()
  const down = await app.inject({ url: '/get/userId', headers: { cookie } })
  t.equal(down.statusCode, 503)
  t.same(down.json(), UNAVAILABLE)
  t.equal((await app.inject('/plain')).statusCode, 200)
  t.equal((await app.inject({ url: '/plain', headers: { cookie } })).statusCode, 200)

  await server.restart()
  await waitUntil('the session to be readable again', async () => (await app.inject({ url: '/get/userId', headers: { cookie } })).statusCode === 200, 20_000, 100)
  t.same((await app.inject({ url: '/get/userId', headers: { cookie } })).json(), { value: 'k' })
  const fresh = await app.inject({ method: 'POST', url: '/login', payload: { userId: 'after' } })
  t.equal(fresh.statusCode, 200)
  t.equal((await app.sessions.listFor('k')).length, 1)
})

t.test('fastify.sessions fails with the same coded 503 while Redis is down', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url })
  await server.kill()
  await t.rejects(app.sessions.listFor('x'), { code: 'SCALEOUT_ERR_SESSION_UNAVAILABLE', statusCode: 503 })
  await t.rejects(app.sessions.destroyAllFor('x'), { code: 'SCALEOUT_ERR_SESSION_UNAVAILABLE', statusCode: 503 })
})
