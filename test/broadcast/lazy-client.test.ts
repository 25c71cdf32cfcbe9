import t from 'tap'
import { Redis } from 'ioredis'
import { adminFor, redisFor } from '../helpers/index.js'
import { Client, startInstance, waitRedisSubscribers } from './helpers.js'

// The subscriber is a duplicate of the caller's client: a lazy one stayed unconnected, and no
// message from another instance ever arrived.
t.test('a caller\'s lazyConnect client: messages from another instance arrive', async (t) => {
  const server = await redisFor(t)
  const lazy = (): Redis => {
    const client = new Redis(server.url, { lazyConnect: true })
    t.teardown(() => client.disconnect())
    return client
  }
  const one = await startInstance(t, { redis: lazy() })
  const two = await startInstance(t, { redis: lazy() })
  const client = await Client.connect(two.wsUrl, ['news'])
  t.teardown(() => client.ws.close())
  await waitRedisSubscribers(adminFor(t, server), 'news', 1)
  const result = await one.app.broadcast.publish('news', 'hello')
  t.match(result, { remote: true, receivers: 1, error: null })
  t.same(await client.waitFor(1), [{ channel: 'news', data: 'hello' }])
})
