import t from 'tap'
import { adminFor, logSink, redisFor } from '../helpers/index.js'
import { sign, newId } from '../../plugins/session/src/signing.js'
import { build, cookieOf, SECRET, sessionKeys } from './setup.js'

// Regression: error replies from Redis reached clients as a raw 500 carrying Redis's own message.
t.test('Redis error replies become coded errors; the detail is only logged', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const sink = logSink('info')
  const app = await build(t, { redis: server.url }, { logger: sink.logger })
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  const [key] = await sessionKeys(server)

  t.test('out of memory (noeviction at maxmemory): 503 SCALEOUT_ERR_REDIS_OOM, and the session still reads', async (t) => {
    await admin.config('SET', 'maxmemory', '1')
    t.teardown(async () => { await admin.config('SET', 'maxmemory', '0') })
    const res = await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: 2 } })
    t.equal(res.statusCode, 503)
    t.same(res.json(), { statusCode: 503, code: 'SCALEOUT_ERR_REDIS_OOM', error: 'Service Unavailable', message: 'Redis is out of memory (maxmemory reached) and refused the write' })
    t.ok(sink.lines.some((line) => JSON.stringify(line).includes('OOM command not allowed')), 'Redis\'s text is logged')
    t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: 1 }, 'reads go on; nothing was lost')
  })

  t.test('NOPERM from an ACL user that may not write: 500 SCALEOUT_ERR_REDIS_NOPERM', async (t) => {
    await admin.call('ACL', 'SETUSER', 'noscripts', 'on', '>pw-0123456789', '~*', '+@all', '-eval', '-evalsha', '-append')
    const limited = await build(t, { redis: `redis://noscripts:pw-0123456789@127.0.0.1:${server.port}` })
    const res = await limited.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: 3 } })
    t.equal(res.statusCode, 500)
    t.same(res.json(), { statusCode: 500, code: 'SCALEOUT_ERR_REDIS_NOPERM', error: 'Internal Server Error', message: 'The Redis user lacks a permission this plugin needs (see the ACL log)' })
    t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: 1 })
  })

  t.test('NOPERM on a read (an ACL user without GETEX): 500 SCALEOUT_ERR_REDIS_NOPERM, the cookie kept, never a logout', async (t) => {
    await admin.call('ACL', 'SETUSER', 'noread', 'on', '>pw-0123456789', '~*', '+@all', '-getex')
    const limited = await build(t, { redis: `redis://noread:pw-0123456789@127.0.0.1:${server.port}` })
    const res = await limited.inject({ url: '/get/n', headers: { cookie } })
    t.equal(res.statusCode, 500)
    t.same(res.json(), { statusCode: 500, code: 'SCALEOUT_ERR_REDIS_NOPERM', error: 'Internal Server Error', message: 'The Redis user lacks a permission this plugin needs (see the ACL log)' })
    t.equal(res.headers['set-cookie'], undefined, 'the cookie is neither cleared nor replaced by a new session')
    t.same(await sessionKeys(server), [key], 'no session created')
    t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: 1 }, 'the session is intact')
  })

  t.test('WRONGTYPE (a key of another type under our prefix): 500 SCALEOUT_ERR_REDIS_REPLY naming only the reply code', async (t) => {
    const other = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
    const otherKey = (await sessionKeys(server)).find((k) => k !== key) as string
    await admin.del(otherKey)
    await admin.hset(otherKey, 'd:n', '1')
    const res = await app.inject({ url: '/get/n', headers: { cookie: other } })
    t.equal(res.statusCode, 500)
    t.same(res.json(), { statusCode: 500, code: 'SCALEOUT_ERR_REDIS_REPLY', error: 'Internal Server Error', message: 'Redis refused the command (WRONGTYPE)' })
  })
})

// Regression: a wrong password showed only as a generic "unavailable".
t.test('a wrong Redis password: SCALEOUT_ERR_REDIS_AUTH says authentication failed', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  await admin.config('SET', 'requirepass', 'the-right-password')
  const app = await build(t, { redis: `redis://:a-wrong-password@127.0.0.1:${server.port}` })
  const cookie = `sessionId=${sign(newId(), [SECRET])}`
  const res = await app.inject({ url: '/get/n', headers: { cookie } })
  t.equal(res.statusCode, 503)
  t.same(res.json(), { statusCode: 503, code: 'SCALEOUT_ERR_REDIS_AUTH', error: 'Service Unavailable', message: 'Redis authentication failed: check the password (and ACL user) in the Redis URL or options' })
  t.equal((await app.inject({ url: '/static' })).statusCode, 200, 'routes without sessions are unaffected')
})
