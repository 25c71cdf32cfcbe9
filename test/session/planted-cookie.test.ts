import t from 'tap'
import { redisFor } from '../helpers/index.js'
import { build, cookieOf, valueOf } from './setup.js'

// A sibling subdomain can set a cookie the browser sends ahead of ours. Its value may contain a
// space followed by what looks like our cookie; that must never be read as our cookie.

t.test('a session id planted inside another cookie\'s value is not served', async (t) => {
  const server = await redisFor(t)
  const app = await build(t, { redis: server.url })

  const victim = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'victim' } })) as string
  const attacker = cookieOf(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'attacker' } })) as string
  t.not(valueOf(victim), valueOf(attacker))

  const planted = await app.inject({ url: '/get/userId', headers: { cookie: `foo=x ${attacker}; ${victim}` } })
  t.equal(planted.statusCode, 200)
  t.same(planted.json(), { value: 'victim' }, 'the real cookie wins over one planted inside another value')

  const junk = await app.inject({ url: '/get/userId', headers: { cookie: `a=x ${victim.split('=')[0] as string}=junk; ${victim}` } })
  t.same(junk.json(), { value: 'victim' }, 'junk planted inside another value does not log the user out')
  t.equal(junk.headers['set-cookie'], undefined, 'nor is the cookie cleared')

  const long = await app.inject({ url: '/get/userId', headers: { cookie: `pad=${'x'.repeat(12_000)}; ${victim}` } })
  t.same(long.json(), { value: 'victim' }, 'a long Cookie header is still read')
})
