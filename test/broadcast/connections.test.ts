import t from 'tap'
import { adminFor, redisFor } from '../helpers/index.js'
import { Client, startInstance, waitRedisSubscribers, waitSubscribed } from './helpers.js'

interface ClientInfo { id: string, flags: string, sub: number, ssub: number, cmd: string }

function parseClientList (text: string): ClientInfo[] {
  return text.trim().split('\n').map((line) => {
    const fields = Object.fromEntries(line.split(' ').map((kv) => kv.split('=') as [string, string]))
    return { id: fields.id as string, flags: fields.flags as string, sub: Number(fields.sub), ssub: Number(fields.ssub ?? 0), cmd: fields.cmd as string }
  })
}

t.test('1,000 WebSocket clients on one instance: still exactly two Redis connections', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  await admin.ping()
  const alone = parseClientList(await admin.client('LIST') as string)
  t.equal(alone.length, 1, 'only the test\'s own connection before the app starts')

  const instance = await startInstance(t, { redis: server.url, heartbeatInterval: '1s' })
  const clients: Client[] = []
  t.teardown(() => { for (const c of clients) c.close() })
  const channelCount = 50
  for (let batch = 0; batch < 10; batch++) {
    clients.push(...await Promise.all(Array.from({ length: 100 }, async (_, i) => {
      const n = batch * 100 + i
      return await Client.connect(instance.wsUrl, [`room-${n % channelCount}`, 'all'])
    })))
  }
  t.equal(clients.length, 1000)
  await waitSubscribed([instance], 2000)
  await waitRedisSubscribers(admin, 'all', 1)
  await waitRedisSubscribers(admin, `room-${channelCount - 1}`, 1)
  t.equal(instance.app.broadcast.stats().sockets, 1000)

  const list = parseClientList(await admin.client('LIST') as string).filter((c) => c.id !== alone[0]?.id)
  t.equal(list.length, 2, 'one publisher and one subscriber connection')
  const subscribers = list.filter((c) => c.sub > 0)
  t.equal(subscribers.length, 1)
  t.equal(subscribers[0]?.sub, channelCount + 2, '50 rooms, "all" and the instance\'s own (heartbeat) channel on the one subscriber')

  const result = await instance.app.broadcast.publish('all', 'to everyone')
  t.equal(result.delivered, 1000)
  await Promise.all(clients.map(async (c) => await c.waitFor(1)))
  t.ok(clients.every((c) => c.received.length === 1 && c.received[0]?.data === 'to everyone'))
  t.equal(parseClientList(await admin.client('LIST') as string).length, 3, 'still two after the fan-out (plus this test\'s)')
})
