import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { adminFor, redisFor, RedisClusterHarness } from '../helpers/index.js'
import type { SessionOptions } from '@scaleout/session'
import { build, cookieOf } from './setup.js'

// A user's index can list a session that is no longer that user's: a login on a `session: 'lazy'`
// route regenerates the session unread (so its old user's entry stays), a Cluster leaves the old
// user's entry behind when the user changes (the index is in the user's slot), and the forwarding
// record a regenerate() leaves follows the session into its next user's hands. "Log out
// everywhere" and the eviction past maxSessionsPerUser end what that index lists: they used to end
// the other user's session too.

function routes (app: FastifyInstance): void {
  app.post('/lazy-login', { config: { session: 'lazy' } }, async (request) => {
    await request.session.regenerate()
    request.session.set('userId', (request.body as { userId: string }).userId)
    return { ok: true }
  })
}

async function login (app: FastifyInstance, url: string, userId: string, cookie?: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url, payload: { userId }, headers: cookie === undefined ? {} : { cookie } })
  if (res.statusCode !== 200) throw new Error(`login answered ${res.statusCode}: ${res.body}`)
  return cookieOf(res) as string
}

/** The session id a cookie carries. */
function idOf (cookie: string): string {
  return cookie.slice(cookie.indexOf('=') + 1, cookie.lastIndexOf('.'))
}

async function userOf (app: FastifyInstance, cookie: string): Promise<unknown> {
  return (await app.inject({ url: '/get/userId', headers: { cookie } })).json().value
}

async function drills (t: Test, redis: SessionOptions['redis'], index: (user: string) => Promise<string[]>): Promise<void> {
  const app = await build(t, { redis }, {}, routes)
  const capped = await build(t, { redis, maxSessionsPerUser: 1 }, {}, routes)

  t.test('a lazy login of another user on the same browser: the old user\'s "log out everywhere" leaves it', async (t) => {
    const alice = await login(app, '/login', 'alice-lazy')
    const bob = await login(app, '/lazy-login', 'bob-lazy', alice)
    t.equal(await app.sessions.destroyAllFor('alice-lazy'), 0, 'alice has no session left to end')
    t.equal(await userOf(app, bob), 'bob-lazy', 'bob is still logged in')
    t.equal((await app.sessions.listFor('bob-lazy')).length, 1)
  })

  t.test('a login of another user through regenerate(): the old user\'s "log out everywhere" leaves it', async (t) => {
    const alice = await login(app, '/login', 'alice-regen')
    const bob = await login(app, '/login', 'bob-regen', alice)
    t.equal(await app.sessions.destroyAllFor('alice-regen'), 0, 'alice has no session left to end')
    t.equal(await userOf(app, bob), 'bob-regen', 'bob is still logged in')
  })

  t.test('the old user\'s next login past maxSessionsPerUser does not end it', async (t) => {
    const alice = await login(capped, '/login', 'alice-cap')
    // The same session changes hands without a regenerate() (the app's choice).
    await capped.inject({ method: 'POST', url: '/set', headers: { cookie: alice }, payload: { userId: 'bob-cap' } })
    const again = await login(capped, '/login', 'alice-cap')
    t.equal(await userOf(capped, again), 'alice-cap')
    t.equal(await userOf(capped, alice), 'bob-cap', 'bob is still logged in')
    t.equal((await capped.sessions.listFor('bob-cap')).length, 1)
    t.equal((await capped.sessions.listFor('alice-cap')).length, 1)
    t.same(await index('alice-cap'), [idOf(again)], 'bob\'s session only left alice\'s index')
    t.same(await index('bob-cap'), [idOf(alice)])
  })
}

t.test('on a standalone Redis', async (t) => {
  const server = await redisFor(t)
  const client = adminFor(t, server)
  await drills(t, server.url, async (user) => await client.zrange(`scaleout:sess:user:{${user}}`, 0, -1))
})

t.test('on a 3-master Cluster', async (t) => {
  const cluster = await RedisClusterHarness.start()
  t.teardown(async () => await cluster.stop())
  const client = cluster.client()
  t.teardown(() => { client.disconnect() })
  await drills(t, { cluster: cluster.urls }, async (user) => await client.zrange(`scaleout:sess:user:{${user}}`, 0, -1))
})
