import t from 'tap'
import { createHash } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { redisFor } from '../helpers/index.js'
import { build, cookieOf, sessionKeys, setCookies, valueOf } from './setup.js'

// Two logins on one session at once (a double-clicked login button, two tabs): both read the
// session, both regenerate() it. One replaces it; the other finds it already replaced. The loser
// used to clear the cookie: when its response reached the browser second, that deleted the id the
// winner had just set, and the user was logged out by logging in.

const digest = (cookie: string): string => createHash('sha256').update(valueOf(cookie).split('.')[0] as string).digest('base64url').slice(0, 16)

/** The session cookie values a response sets, and whether it clears one. */
function cookiesOf (res: LightMyRequestResponse): { set: string[], cleared: boolean } {
  const all = setCookies(res)
  return { set: all.filter((c) => !/Max-Age=0/.test(c)).map((c) => c.split(';')[0] as string), cleared: all.some((c) => /Max-Age=0/.test(c)) }
}

// On a `session: 'lazy'` route the login does not read the old session, so it cannot tell that the
// other login replaced it already: both created a session, the loser's an orphan that stayed alive
// and listed under the user (a phantom device in listFor, counted against maxSessionsPerUser)
// until its idle timeout. The loser now finds the forwarding record and backs off, as on a regular route.
const lazyLogin = (app: FastifyInstance): void => {
  app.post('/lazy/login', { config: { session: 'lazy' } }, async (request) => {
    const { userId } = request.body as { userId: string }
    await request.session.regenerate()
    request.session.set('userId', userId)
    return { ok: true }
  })
}

for (const [start, route] of [['anonymous', '/login'], ['logged-in', '/login'], ['anonymous', '/lazy/login'], ['logged-in', '/lazy/login']] as const) {
  t.test(`two parallel logins (${route}) on one ${start} session: neither clears the cookie; one session, listed once`, async (t) => {
    const server = await redisFor(t)
    const app = await build(t, { redis: server.url }, {}, lazyLogin)
    const first = start === 'anonymous'
      ? await app.inject({ method: 'POST', url: '/set', payload: { cart: 'x' } })
      : await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u' } })
    const cookie = cookieOf(first) as string

    const responses = await Promise.all(['u', 'u'].map(async (userId) => await app.inject({ method: 'POST', url: route, headers: { cookie }, payload: { userId, keep: ['cart'] } })))
    t.same(responses.map((r) => [r.statusCode, r.json()]), [[200, { ok: true }], [200, { ok: true }]])
    const outcomes = responses.map(cookiesOf)
    t.same(outcomes.map((o) => o.cleared), [false, false], 'no response clears the cookie: whichever arrives last, the browser keeps a logged-in session')
    const set = outcomes.flatMap((o) => o.set)
    t.equal(set.length, 1, 'one login landed and set its cookie; the other sends none')
    const winner = set[0] as string

    // A lazy login keeps nothing (it reads nothing).
    t.same((await app.inject({ url: '/data', headers: { cookie: winner } })).json(), start === 'anonymous' && route === '/login' ? { cart: 'x', userId: 'u' } : { userId: 'u' })
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), {}, 'the old id is no session')
    t.same((await app.sessions.listFor('u')).map((s) => s.id), [digest(winner)], 'the index lists the live session only')
    t.equal((await sessionKeys(server)).length, 1, 'no orphan session in Redis')
  })
}

// The same on a route that reads the session, when the second login reads it after the first
// landed: it found the forwarding record, read it as no session, and its regenerate() created a
// second session from nothing (no old session to replace), with a cookie of its own: the one the
// browser did not keep stayed alive, and listed under the user, until its idle timeout.
for (const route of ['/login', '/lazy/login'] as const) {
  t.test(`a login (${route}) that reads the old session after another login on it landed backs off: one session, listed once`, async (t) => {
    const server = await redisFor(t)
    const app = await build(t, { redis: server.url }, {}, lazyLogin)
    const cookie = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u' } })) as string
    const first = await app.inject({ method: 'POST', url: route, headers: { cookie }, payload: { userId: 'u' } })
    const second = await app.inject({ method: 'POST', url: route, headers: { cookie }, payload: { userId: 'u' } })
    t.same([first.statusCode, second.statusCode], [200, 200])
    const winner = cookiesOf(first).set[0] as string
    t.same(cookiesOf(second), { set: [], cleared: false }, 'the second sends no cookie: the browser keeps the first\'s')
    t.same((await app.inject({ url: '/data', headers: { cookie: winner } })).json(), { userId: 'u' })
    t.same((await app.sessions.listFor('u')).map((s) => s.id), [digest(winner)], 'the index lists the live session only')
    t.equal((await sessionKeys(server)).length, 1, 'no orphan session in Redis')
  })
}
