import t from 'tap'
import { adminFor, redisFor } from '../helpers/index.js'
import { build, cookieOf } from './setup.js'

t.test('the per-user index', async (t) => {
  const server = await redisFor(t)
  t.beforeEach(async () => await server.flushAll())
  const client = adminFor(t, server)
  const app = await build(t, { redis: server.url })
  const loginAs = async (userId: string): Promise<string> =>
    cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId } })) as string
  const userOf = async (cookie: string): Promise<unknown> => (await app.inject({ url: '/get/userId', headers: { cookie } })).json().value

  // Regression: the hash tag replaced braces with `_`, so these users shared one index, each
  // listFor pruned the other's entries, and destroyAllFor('bob_x') returned 0 with bob_x logged in.
  t.test('users whose ids differ only by braces or percent signs have separate indexes', async (t) => {
    const ids = ['bob_x', 'bob{x', 'bob}x', 'bob%7Bx']
    const cookies = new Map<string, string>()
    for (const id of ids) cookies.set(id, await loginAs(id))
    for (const id of ids) t.equal((await app.sessions.listFor(id)).length, 1, `${id} sees its own session only`)
    t.equal(await app.sessions.destroyAllFor('bob_x'), 1)
    t.equal(await userOf(cookies.get('bob_x') as string), null, 'bob_x is logged out')
    for (const id of ids.slice(1)) t.equal(await userOf(cookies.get(id) as string), id, `${id} is still logged in`)
    t.same((await client.keys('scaleout:sess:user:*')).sort(), ['scaleout:sess:user:{bob%257Bx}', 'scaleout:sess:user:{bob%7Bx}', 'scaleout:sess:user:{bob%7Dx}'])
  })

  t.test('a number is the user whose id is its decimal string', async (t) => {
    const login = async (userId: unknown): Promise<void> => { await app.inject({ method: 'POST', url: '/login', payload: { userId } }) }
    for (const id of [1, '1', 1e21, '1e+21']) await login(id)
    t.equal((await app.sessions.listFor(1)).length, 2, '1 and "1"')
    t.equal((await app.sessions.listFor('1e+21')).length, 2, '1e21 and "1e+21"')
    t.equal(await app.sessions.destroyAllFor('1'), 2)
    t.same((await client.keys('scaleout:sess:user:*')).sort(), ['scaleout:sess:user:{1e+21}'])
  })
})
