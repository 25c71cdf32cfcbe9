import t from 'tap'
import { FreezingProxy, redisFor, waitUntil } from '../helpers/index.js'
import { build, cookieOf } from './setup.js'

// A frozen link to Redis (a NAT entry dropped without a reset) used to fail every request that
// used its session for as long as TCP retransmitted, about 15 minutes: the plugin's own client now
// reconnects once its commands time out with nothing received.
t.test('the plugin\'s client on a link that goes silent: 503s, then it reconnects and sessions are back', async (t) => {
  const server = await redisFor(t)
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const app = await build(t, { redis: proxy.url, timeout: 200 })
  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string

  proxy.refuseNew()
  t.equal(proxy.freezeAll(), 2, 'the client\'s connection and the request path\'s own')
  const read = await app.inject({ url: '/get/n', headers: { cookie } })
  t.same([read.statusCode, read.json().code], [503, 'SCALEOUT_ERR_SESSION_UNAVAILABLE'])
  t.equal(read.headers['set-cookie'], undefined, 'not logged out')
  proxy.acceptNew()
  await waitUntil('sessions answer again', async () => (await app.inject({ url: '/get/n', headers: { cookie } })).statusCode === 200, 15_000)
  t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: 1 })
})
