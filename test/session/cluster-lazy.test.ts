import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { rawCommand, RedisClusterHarness, waitUntil, type RedisServer } from '../helpers/index.js'
import { build, cookieOf, roundTrips, valueOf } from './setup.js'

// README, Round trips, on a Cluster as on a standalone server:
// | log in on a `session: 'lazy'` route | 1 on standalone/Sentinel; on a Cluster 2 calls, 1 of waiting |
// | destroy on a `session: 'lazy'` route (a logout request) | 1 |
// | log in (regenerate + set `userKey`) | 2 on standalone/Sentinel; on a Cluster 3 calls, 2 of waiting |
// and "adding a session to it [the index] is a separate call, sent alongside the session's own
// write (the request waits for one round trip, not two)"; `reload()`: "one `GETEX`".

function keyOf (cookie: string): string {
  const id = valueOf(cookie).slice(0, 51)
  return `scaleout:sess:{${id.slice(0, 8)}}:${id.slice(8)}`
}

const indexOf = (user: string): string => `scaleout:sess:user:{${user}}`

t.test('lazy routes on a real 3-master Redis Cluster', async (t) => {
  const cluster = await RedisClusterHarness.start()
  t.teardown(async () => await cluster.stop())
  const client = cluster.client()
  t.teardown(() => client.disconnect())
  // A gate holds an ordinary login after its session loaded, so the test can pause a node first.
  let release: () => void = () => {}
  let arrived: () => void = () => {}
  // A long bound: a node is paused (CLIENT PAUSE) while a login waits on it.
  const app = await build(t, { redis: { cluster: cluster.urls }, timeout: '20s' }, {}, (app) => {
    const lazy = { config: { session: 'lazy' as const } }
    app.post('/lazy/login', lazy, async (request) => {
      await request.session.regenerate()
      request.session.set('userId', (request.body as { userId: string }).userId)
      return { ok: true }
    })
    app.post('/lazy/logout', lazy, async (request) => {
      await request.session.destroy()
      return { ok: true }
    })
    app.get('/lazy/read', lazy, async (request) => {
      await request.session.reload()
      return { n: request.session.get('n') ?? null }
    })
    app.post('/gated/login', async (request) => {
      request.session.get('n')
      await new Promise<void>((resolve) => { release = resolve; arrived() })
      await request.session.regenerate()
      request.session.set('userId', (request.body as { userId: string }).userId)
      return { ok: true }
    })
  })

  const masters = cluster.nodes
  /** A new anonymous session whose key is on `node`. */
  const sessionOn = async (node: RedisServer): Promise<string> => {
    for (let i = 0; i < 100; i++) {
      const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
      if ((await cluster.nodeFor(keyOf(cookie))).port === node.port) return cookie
    }
    throw new Error(`no session landed on ${node.port}`)
  }
  /** A user id, not used before, whose index is on `node`. */
  let users = 0
  const userOn = async (node: RedisServer): Promise<string> => {
    for (;;) {
      const user = `u${users++}`
      if ((await cluster.nodeFor(indexOf(user))).port === node.port) return user
    }
  }

  // Warm-up: every script the routes use has run on every master (a first call there loads it).
  for (const node of masters) {
    const cookie = await sessionOn(node)
    const loggedIn = cookieOf(await app.inject({ method: 'POST', url: '/lazy/login', headers: { cookie }, payload: { userId: await userOn(node) } })) as string
    await app.inject({ url: '/lazy/read', headers: { cookie: loggedIn } })
    await app.inject({ method: 'POST', url: '/lazy/logout', headers: { cookie: loggedIn } })
  }

  /** A session on one master and a fresh user whose index is on another. */
  const apart = async (): Promise<{ cookie: string, sessionNode: RedisServer, user: string, indexNode: RedisServer }> => {
    const [sessionNode, indexNode] = masters as [RedisServer, RedisServer]
    return { cookie: await sessionOn(sessionNode), sessionNode, user: await userOn(indexNode), indexNode }
  }

  t.test('a lazy login: 2 calls, the session\'s own and the index\'s', async (t) => {
    const { cookie, user } = await apart()
    const { result, trips, commands } = await roundTrips(cluster, async () => await app.inject({ method: 'POST', url: '/lazy/login', headers: { cookie }, payload: { userId: user } }))
    t.equal(result.statusCode, 200)
    t.same(result.json(), { ok: true })
    t.equal(trips, 2)
    t.same(commands, {
      evalsha: 2,
      time: 2,
      exists: 1, // the new key is not marked by a destroyAllFor (the index entry may go first)
      get: 1, // the unread old session, which becomes a forwarding record
      set: 2, // the record and the new session
      zadd: 1,
      zremrangebyscore: 1,
      zrange: 1,
      pexpireat: 1,
      zcard: 1
    }, 'one create script (in the session\'s slot) and one index script (in the user\'s slot): no read')
    const fresh = cookieOf(result) as string
    t.not(fresh, cookie)
    t.same(await client.zrange(indexOf(user), 0, -1), [valueOf(fresh).slice(0, 51)])
    t.same((await app.inject({ url: '/data', headers: { cookie: fresh } })).json(), { userId: user })
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), {}, 'the old session is gone')
  })

  /**
   * The request waits for one round trip, not two: with either node paused (CLIENT PAUSE WRITE:
   * scripts wait, reads go on), the other call still lands while the request waits. `login` calls
   * `pause` at the moment the node is to stop answering.
   */
  async function sentTogether (t: Test, login: (cookie: string, user: string, pause: () => Promise<void>) => Promise<LightMyRequestResponse>): Promise<void> {
    for (const which of ['session', 'index'] as const) {
      const { cookie, sessionNode, user, indexNode } = await apart()
      const node = which === 'session' ? sessionNode : indexNode
      let paused = false
      const response = login(cookie, user, async () => {
        await rawCommand(node.port, 'CLIENT PAUSE 30000 WRITE')
        paused = true
      })
      try {
        await waitUntil(`the ${which} node paused`, () => paused, 5_000)
        if (which === 'session') {
          await waitUntil('the index entry, while the session\'s node is paused', async () => await client.zcard(indexOf(user)) === 1, 5_000)
        } else {
          await waitUntil('the old session replaced by its forwarding record, while the index\'s node is paused', async () =>
            (await client.get(keyOf(cookie)) ?? '').startsWith('{"m:n":'), 5_000)
        }
        t.pass(`with the ${which} node paused, the other call landed`)
      } finally {
        await rawCommand(node.port, 'CLIENT UNPAUSE')
      }
      const res = await response
      t.equal(res.statusCode, 200)
      const fresh = cookieOf(res) as string
      t.same(await client.zrange(indexOf(user), 0, -1), [valueOf(fresh).slice(0, 51)])
      t.same((await app.inject({ url: '/data', headers: { cookie: fresh } })).json(), { userId: user })
    }
  }

  t.test('a lazy login: the 2 calls are sent together, 1 of waiting', async (t) => {
    await sentTogether(t, async (cookie, user, pause) => {
      await pause()
      return await app.inject({ method: 'POST', url: '/lazy/login', headers: { cookie }, payload: { userId: user } })
    })
  })

  t.test('an ordinary login: after its read, the create and the index calls are sent together, 2 of waiting', async (t) => {
    await sentTogether(t, async (cookie, user, pause) => {
      const waiting = new Promise<void>((resolve) => { arrived = resolve })
      const response = app.inject({ method: 'POST', url: '/gated/login', headers: { cookie }, payload: { userId: user } })
      await waiting
      await pause() // once the session was read: the read needs the session's node
      release()
      return await response
    })
  })

  t.test('a lazy logout: 1', async (t) => {
    const { cookie, user } = await apart()
    const loggedIn = cookieOf(await app.inject({ method: 'POST', url: '/lazy/login', headers: { cookie }, payload: { userId: user } })) as string
    const { result, trips, commands } = await roundTrips(cluster, async () => await app.inject({ method: 'POST', url: '/lazy/logout', headers: { cookie: loggedIn } }))
    t.equal(result.statusCode, 200)
    t.equal(trips, 1)
    t.same(commands, { evalsha: 1, getrange: 1, del: 1 })
    t.equal(cookieOf(result), 'sessionId=')
    t.equal(await client.exists(keyOf(loggedIn)), 0)
  })

  t.test('a lazy read (reload()): one GETEX', async (t) => {
    const { cookie } = await apart()
    const { result, trips, commands } = await roundTrips(cluster, async () => await app.inject({ url: '/lazy/read', headers: { cookie } }))
    t.equal(result.statusCode, 200)
    t.same(result.json(), { n: 1 })
    t.equal(trips, 1)
    t.same(commands, { getex: 1 })
    t.equal(result.headers['set-cookie'], undefined)
  })
})
