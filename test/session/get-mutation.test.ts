import t from 'tap'
import { adminFor, redisFor } from '../helpers/index.js'
import { build, cookieOf, roundTrips, storedFields, valueOf } from './setup.js'

// README, API: "Values returned by `get` are the session's own objects: mutating one in place is
// not tracked, call `set` with it to save the change."

declare module '@scaleout/session' {
  interface SessionData {
    cart?: string[]
  }
}

function keyOf (cookie: string): string {
  const id = valueOf(cookie).slice(0, 51)
  return `scaleout:sess:{${id.slice(0, 8)}}:${id.slice(8)}`
}

t.test('a value returned by get(), mutated in place', async (t) => {
  const server = await redisFor(t)
  t.beforeEach(async () => await server.flushAll())
  const client = adminFor(t, server)
  const app = await build(t, { redis: server.url }, {}, (app) => {
    /** Mutates the cart get() returned; with ?then=set, passes it to set(); with ?n=, sets n too. */
    app.post('/mutate', async (request) => {
      const { then, n } = request.query as { then?: string, n?: string }
      const cart = request.session.get('cart') as string[]
      cart.push('pear')
      if (n !== undefined) request.session.set('n', Number(n))
      if (then === 'set') request.session.set('cart', cart)
      return { same: request.session.get('cart') === cart, cart: request.session.get('cart'), modified: request.session.isModified() }
    })
  })
  const create = async (): Promise<string> =>
    cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { cart: ['apple'], n: 1 } })) as string

  t.test('is the session\'s own object, not tracked: nothing is written, Redis holds the session as it was', async (t) => {
    const cookie = await create()
    const before = await client.get(keyOf(cookie))
    const { result, trips, commands } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/mutate', headers: { cookie } }))
    t.equal(result.statusCode, 200)
    t.same(result.json(), { same: true, cart: ['apple', 'pear'], modified: false }, 'a later get() in the request returns the same, mutated object; isModified() does not see it')
    t.equal(result.headers['set-cookie'], undefined)
    t.equal(trips, 1)
    t.same(commands, { getex: 1 }, 'the read, and no write')
    t.equal(await client.get(keyOf(cookie)), before, 'the stored text is byte for byte what it was')
    t.same(storedFields(before)['d:cart'], '["apple"]')
    t.same((await app.inject({ url: '/get/cart', headers: { cookie } })).json(), { value: ['apple'] }, 'the next request, on the same instance, reads what Redis holds')
  })

  t.test('a save of another key in the same request writes that key only', async (t) => {
    const cookie = await create()
    const { result, commands } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/mutate?n=2', headers: { cookie } }))
    t.equal(result.statusCode, 200)
    t.same(result.json(), { same: true, cart: ['apple', 'pear'], modified: true })
    t.same(commands, { getex: 1, append: 1, pexpire: 1 })
    const fields = storedFields(await client.get(keyOf(cookie)))
    t.equal(fields['d:cart'], '["apple"]', 'the mutated value is not saved')
    t.equal(fields['d:n'], '2')
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { cart: ['apple'], n: 2 })
  })

  t.test('set() with the mutated object saves the change', async (t) => {
    const cookie = await create()
    const { result, commands } = await roundTrips(server, async () => await app.inject({ method: 'POST', url: '/mutate?then=set', headers: { cookie } }))
    t.equal(result.statusCode, 200)
    t.same(result.json(), { same: true, cart: ['apple', 'pear'], modified: true })
    t.equal(result.headers['set-cookie'], undefined)
    t.same(commands, { getex: 1, append: 1, pexpire: 1 })
    t.equal(storedFields(await client.get(keyOf(cookie)))['d:cart'], '["apple","pear"]')
    t.same((await app.inject({ url: '/data', headers: { cookie } })).json(), { cart: ['apple', 'pear'], n: 1 })
  })

  t.test('requests that share one read each get their own objects: a mutation in one is not seen by the other', async (t) => {
    const cookie = await create()
    const { result, trips, commands } = await roundTrips(server, async () => await Promise.all([
      app.inject({ method: 'POST', url: '/mutate', headers: { cookie } }),
      app.inject({ url: '/get/cart', headers: { cookie } })
    ]))
    t.equal(trips, 1, 'one shared GETEX')
    t.same(commands, { getex: 1 })
    t.same(result.map((r) => r.statusCode), [200, 200])
    t.same(result[0]?.json(), { same: true, cart: ['apple', 'pear'], modified: false })
    t.same(result[1]?.json(), { value: ['apple'] })
  })
})
