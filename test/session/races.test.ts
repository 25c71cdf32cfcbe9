import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { adminFor, RedisClusterHarness, redisFor, waitUntil } from '../helpers/index.js'
import { build, cookieOf, valueOf } from './setup.js'

type Call = (...args: unknown[]) => Promise<unknown>

/**
 * Runs `between` once, right after the client's next `name` command (or script) has its reply and
 * before the caller sees it: a deterministic interleaving of two instances' calls on real Redis.
 */
function after (client: object, name: string, between: () => Promise<void>): void {
  const target = client as Record<string, Call>
  const viaCall = name === 'zrangebyscore'
  const original = (viaCall ? target.call : target[name]) as Call
  const wrapped: Call = async (...args) => {
    const reply = await original.apply(client, args)
    if (!viaCall || String(args[0]).toLowerCase() === name) {
      if (viaCall) target.call = original
      else target[name] = original
      await between()
    }
    return reply
  }
  if (viaCall) target.call = wrapped
  else target[name] = wrapped
}

/** Runs `first` once, just before the client's next `name` script is sent (it waits for it). */
function before (client: object, name: string, first: (args: unknown[]) => Promise<void>): void {
  const target = client as Record<string, Call>
  const original = target[name] as Call
  target[name] = async (...args) => {
    target[name] = original
    await first(args)
    return await original.apply(client, args)
  }
}

async function loggedInAs (app: FastifyInstance, cookie: string): Promise<unknown> {
  return (await app.inject({ url: '/get/userId', headers: { cookie } })).json().value
}

const regenerateRoute = (app: FastifyInstance): void => {
  app.post('/regenerate', async (request) => {
    await request.session.regenerate(['userId'])
    return { ok: true }
  })
}

// Regression: destroyAllFor read the index, then destroyed what it listed; a regenerate() of a
// listed session in between swapped it for a new id that nobody destroyed: still logged in.
t.test('standalone: a regenerate() inside destroyAllFor\'s window does not survive it', async (t) => {
  const server = await redisFor(t)
  const client = adminFor(t, server)
  const a = await build(t, { redis: client })
  const b = await build(t, { redis: server.url }, {}, regenerateRoute)

  const stolen = cookieOf(await b.inject({ method: 'POST', url: '/login', payload: { userId: 'mallory-victim' } })) as string
  let regenerated = ''
  after(client, 'zrangebyscore', async () => {
    regenerated = cookieOf(await b.inject({ method: 'POST', url: '/regenerate', headers: { cookie: stolen } })) as string
  })
  t.equal(await a.sessions.destroyAllFor('mallory-victim'), 1)
  t.not(valueOf(regenerated), valueOf(stolen), 'the regenerate landed inside the window')
  t.equal(await loggedInAs(b, regenerated), null, 'what the session became is destroyed too')
  t.equal(await loggedInAs(b, stolen), null)
  t.same(await a.sessions.listFor('mallory-victim'), [])
})

t.test('standalone: "except" keeps the current session even when an old id forwards to it', async (t) => {
  const server = await redisFor(t)
  const client = adminFor(t, server)
  const app = await build(t, { redis: client }, {}, regenerateRoute)
  const other = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'keeper' } })) as string
  const old = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'keeper' } })) as string
  const current = cookieOf(await app.inject({ method: 'POST', url: '/regenerate', headers: { cookie: old } })) as string
  // The old id is still listed (a Cluster leaves it until pruned): put it back as such.
  await client.zadd('scaleout:sess:user:{keeper}', Date.now() + 60_000, valueOf(old).slice(0, 51))
  t.equal(await app.sessions.destroyAllFor('keeper', { except: valueOf(current).slice(0, 51) }), 1)
  t.equal(await loggedInAs(app, current), 'keeper')
  t.equal(await loggedInAs(app, other), null)
})

t.test('on a real Cluster', async (t) => {
  const cluster = await RedisClusterHarness.start()
  t.teardown(async () => await cluster.stop())
  const admin = cluster.client()
  t.teardown(() => admin.disconnect())

  // Regression: the index entry goes alongside the session's create; a listFor in between saw no
  // session, pruned the entry, and the session then lived unlisted: destroyAllFor missed it.
  t.test('a listFor between the index add and the session create does not prune the entry', async (t) => {
    const clientB = cluster.client()
    t.teardown(() => clientB.disconnect())
    const a = await build(t, { redis: { cluster: cluster.urls } })
    const b = await build(t, { redis: clientB })
    before(clientB, 'scaleoutSessionCreate', async (args) => {
      const id = String(args[4 + 5])
      await waitUntil('the index entry', async () => await admin.zscore('scaleout:sess:user:{racer}', id) !== null)
      t.same(await a.sessions.listFor('racer'), [], 'not listed before it exists')
    })
    const cookie = cookieOf(await b.inject({ method: 'POST', url: '/login', payload: { userId: 'racer' } })) as string
    t.equal((await a.sessions.listFor('racer')).length, 1, 'its entry was kept')
    t.equal(await a.sessions.destroyAllFor('racer'), 1)
    t.equal(await loggedInAs(a, cookie), null)
  })

  // The entry is listed before its session exists: destroyAllFor in that window finds nothing to
  // destroy, so it marks the id, and the login's create that follows is refused.
  t.test('a destroyAllFor between the index add and the session create: the session is never created', async (t) => {
    const clientB = cluster.client()
    t.teardown(() => clientB.disconnect())
    const a = await build(t, { redis: { cluster: cluster.urls } })
    const b = await build(t, { redis: clientB })
    let id = ''
    before(clientB, 'scaleoutSessionCreate', async (args) => {
      id = String(args[4 + 5])
      await waitUntil('the index entry', async () => await admin.zscore('scaleout:sess:user:{marked}', id) !== null)
      t.equal(await a.sessions.destroyAllFor('marked'), 0, 'nothing to destroy yet')
    })
    const res = await b.inject({ method: 'POST', url: '/login', payload: { userId: 'marked' } })
    t.not(id, '', 'the create was reached')
    t.equal(res.statusCode, 200, 'the handler\'s own answer')
    t.equal(cookieOf(res), undefined, 'with no session cookie: the user is not logged in')
    t.same(await a.sessions.listFor('marked'), [], 'nothing listed')
    t.equal(await admin.zscore('scaleout:sess:user:{marked}', id), null, 'the entry the login added is gone')
  })

  t.test('a regenerate() inside destroyAllFor\'s window does not survive it', async (t) => {
    const clientA = cluster.client()
    t.teardown(() => clientA.disconnect())
    const a = await build(t, { redis: clientA })
    const b = await build(t, { redis: { cluster: cluster.urls } }, {}, regenerateRoute)
    const stolen = cookieOf(await b.inject({ method: 'POST', url: '/login', payload: { userId: 'victim' } })) as string
    let regenerated = ''
    after(clientA, 'zrangebyscore', async () => {
      regenerated = cookieOf(await b.inject({ method: 'POST', url: '/regenerate', headers: { cookie: stolen } })) as string
    })
    t.equal(await a.sessions.destroyAllFor('victim'), 1)
    t.not(valueOf(regenerated), valueOf(stolen))
    t.equal(await loggedInAs(b, regenerated), null, 'what the session became is destroyed too')
    t.same(await a.sessions.listFor('victim'), [])
  })
})
