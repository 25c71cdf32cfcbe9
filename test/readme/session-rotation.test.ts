import t from 'tap'
import { redisFor } from '../helpers/index.js'
import { build, cookieOf, OLD_SECRET, SECRET } from '../session/setup.js'

// The session README's rotation advice, replayed as a rolling deploy: at every step an instance
// still on the previous secrets serves the same users as one already on the next.
t.test('secret rotation in two deploys keeps everyone logged in; one deploy logs users out', async (t) => {
  const server = await redisFor(t)
  const before = await build(t, { redis: server.url, secret: [OLD_SECRET] })
  const first = await build(t, { redis: server.url, secret: [OLD_SECRET, SECRET] })
  const second = await build(t, { redis: server.url, secret: [SECRET, OLD_SECRET] })

  const login = await before.inject({ method: 'POST', url: '/set', payload: { n: 1 } })
  const oldCookie = cookieOf(login) as string
  const seen = async (app: typeof before, cookie: string): Promise<unknown> =>
    (await app.inject({ url: '/get/n', headers: { cookie } })).json()

  // Deploy 1, [old, new]: it signs with old, so both versions read what either writes.
  const fromFirst = await first.inject({ method: 'POST', url: '/set', headers: { cookie: oldCookie }, payload: { n: 2 } })
  t.equal(cookieOf(fromFirst), undefined, 'nothing re-signed while old still signs')
  t.same(await seen(before, oldCookie), { value: 2 })
  t.same(await seen(first, oldCookie), { value: 2 })

  // Deploy 2, [new, old]: it re-signs with new, which the deploy-1 instances already accept.
  const fromSecond = await second.inject({ url: '/get/n', headers: { cookie: oldCookie } })
  const newCookie = cookieOf(fromSecond) as string
  t.not(newCookie, undefined, 're-signed with the new secret')
  t.same(await seen(first, newCookie), { value: 2 }, 'a deploy-1 instance reads the re-signed cookie')
  t.same(await seen(second, newCookie), { value: 2 })

  // Straight from [old] to [new, old]: an instance still on [old] does not know the re-signed cookie.
  t.same(await seen(before, newCookie), { value: null }, 'one deploy: logged out on an old instance')
})
