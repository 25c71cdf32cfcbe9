import t from 'tap'
import { adminFor, logSink, redisFor } from '../helpers/index.js'
import { build, cookieOf, sessionKeys, valueOf } from './setup.js'

// Regression: a login past maxSessionsPerUser whose ending of the older sessions failed (Redis
// refused the eviction's call) rejected the whole save, although the login had landed in Redis: the
// response was an error without the new session's cookie, so the user was logged out (the old
// cookie's session had become a forwarding record) while a session they could never use stayed
// alive in Redis. The login stands: its response carries the new cookie, the failure is logged,
// and the sessions left over the bound stay listed, so listFor and destroyAllFor still end them.

function idOf (cookie: string): string {
  const value = valueOf(cookie)
  return value.slice(0, value.lastIndexOf('.'))
}

const keyOf = (id: string): string => `scaleout:sess:{${id.slice(0, 8)}}:${id.slice(8)}`

t.test('a login past maxSessionsPerUser whose eviction fails still logs in, and the older session stays listed', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const app = await build(t, { redis: server.url, maxSessionsPerUser: 1 })
  const first = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'zoe' } })) as string
  const anonymous = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  // An instance whose Redis user may touch the user indexes and the anonymous session's slot tag
  // (a regenerate() keeps it) but not the first session: the eviction's call is refused.
  const tag = idOf(anonymous).slice(0, 8)
  await admin.call('ACL', 'SETUSER', 'partial', 'on', '>pw-0123456789', '~scaleout:sess:user:*', `~scaleout:sess:{${tag}}*`, '+@all')
  const sink = logSink('info')
  const limited = await build(t, { redis: `redis://partial:pw-0123456789@127.0.0.1:${server.port}`, maxSessionsPerUser: 1 }, { logger: sink.logger })

  const res = await limited.inject({ method: 'POST', url: '/login', headers: { cookie: anonymous }, payload: { userId: 'zoe' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { ok: true })
  const renewed = cookieOf(res) as string
  t.ok(renewed !== undefined && idOf(renewed).startsWith(tag) && idOf(renewed) !== idOf(anonymous), 'the response carries the new session\'s cookie')
  t.equal((await app.inject({ url: '/get/userId', headers: { cookie: renewed } })).json().value, 'zoe', 'logged in')
  const failed = sink.lines.filter((line) => line.level === 50 && String(line.msg).includes('could not end'))
  t.equal(failed.length, 1, 'the failed eviction is logged as an error')
  t.equal((failed[0]?.err as { code?: string } | undefined)?.code, 'SCALEOUT_ERR_REDIS_NOPERM')

  t.equal(await admin.exists(keyOf(idOf(first))), 1, 'the session over the bound is still alive')
  t.same((await admin.zrange('scaleout:sess:user:{zoe}', '0', '-1')).sort(), [idOf(first), idOf(renewed)].sort(), 'and still listed')
  t.equal((await app.sessions.listFor('zoe')).length, 2, 'listFor finds both')
  t.equal(await app.sessions.destroyAllFor('zoe'), 2, 'destroyAllFor ends both')
  t.same(await sessionKeys(server), [])
})
