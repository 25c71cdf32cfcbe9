import t from 'tap'
import { once } from 'node:events'
import WebSocket from 'ws'
import { waitUntil } from '../test/helpers/index.js'
import { startStack } from './stack.js'

interface Chat { from: string, text: string, instance: string }

// Drill 5: three chat clients through nginx land on three instances (least_conn spreads the
// long-lived connections); a message sent on any of them reaches all three.
t.test('WebSocket chat through nginx reaches clients on every instance', async (t) => {
  const stack = await startStack('nginx')
  t.teardown(stack.stop)
  const clients: Array<{ socket: WebSocket, received: Chat[] }> = []
  for (let i = 0; i < 3; i++) {
    const socket = new WebSocket(`ws://127.0.0.1:${stack.lb.port}/chat`)
    const client = { socket, received: [] as Chat[] }
    socket.on('message', (data) => client.received.push((JSON.parse(data.toString()) as { data: Chat }).data))
    await once(socket, 'open')
    clients.push(client)
  }
  t.teardown(() => { for (const c of clients) c.socket.close() })

  // A socket is open before its instance's SUBSCRIBE has reached Redis (subscriptions are made when
  // a channel gains its first socket), and pub/sub keeps nothing for late subscribers: wait until
  // Redis counts all three instances, as a chat client would wait for its first message.
  const redis = stack.redis.client()
  t.teardown(() => redis.disconnect())
  await waitUntil('every instance subscribed to the chat channel', async () =>
    (await redis.call('PUBSUB', 'NUMSUB', 'example:bus:c:chat') as [string, number])[1] === 3)

  for (const [i, client] of clients.entries()) client.socket.send(`hello from client ${i}`)
  await waitUntil('every client to get every message', () => clients.every((c) => c.received.length === 3), 10_000)

  // The publishing instance is the one the sender is connected to.
  const instanceOf = clients.map((_, i) => clients[0]!.received.find((m) => m.text === `hello from client ${i}`)?.instance)
  t.same([...new Set(instanceOf)].sort(), ['instance-1', 'instance-2', 'instance-3'], `one client per instance: ${JSON.stringify(instanceOf)}`)
  for (const client of clients) {
    t.same(client.received.map((m) => m.text).sort(), ['hello from client 0', 'hello from client 1', 'hello from client 2'])
    t.ok(client.received.every((m) => m.from === 'anonymous'))
  }
})
