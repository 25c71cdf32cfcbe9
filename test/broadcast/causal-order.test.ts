import t from 'tap'
import type { PublishResult } from '@scaleout/broadcast'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { Client, collect, startInstance, waitRedisSubscribers, type Instance } from './helpers.js'

// A handler that publishes while a message is being delivered (a bot answering a question) used to
// have its reaction delivered at once, in the middle of the cause's delivery: the handlers and
// sockets after it on that instance got the answer before the question, while every other instance
// got the question first. A message published during a delivery now waits for that delivery to end.
t.test('a reaction published by a handler reaches the listeners after it on its instance after its cause', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const a = await startInstance(t, { redis: server.url })
  const b = await startInstance(t, { redis: server.url })
  // Exactly `count` handlers and sockets on `instance` (a socket joins once its channels() ran).
  const listening = async (instance: Instance, count: number): Promise<void> => await waitUntil(`${count} listeners`, () => instance.app.broadcast.stats().listeners === count)

  t.test('on the publishing instance', async (t) => {
    const answers: Array<Promise<PublishResult>> = []
    // Registered first: every listener below comes after it.
    const offBot = a.app.broadcast.subscribe('room', (message) => {
      if (message === 'question') answers.push(a.app.broadcast.publish('room', 'answer'))
    })
    const client = await Client.connect(a.wsUrl, ['room'])
    await listening(a, 2)
    const after = collect(a, 'room')
    const remoteClient = await Client.connect(b.wsUrl, ['room'])
    await listening(b, 1)
    const remote = collect(b, 'room')
    t.teardown(() => { offBot(); after.off(); remote.off(); client.close(); remoteClient.close() })
    await waitRedisSubscribers(admin, 'room', 2)

    const question = await a.app.broadcast.publish('room', 'question')
    t.equal(answers.length, 1)
    const answer = await (answers[0] as Promise<PublishResult>)
    t.match(question, { delivered: 3, remote: true, receivers: 2, error: null })
    t.match(answer, { delivered: 3, remote: true, receivers: 2, error: null })
    t.same(after.seen, ['question', 'answer'], 'a handler after the bot')
    t.same((await client.waitFor(2)).map((m) => m.data), ['question', 'answer'], 'a WebSocket client of the same instance')
    await remote.waitFor(2)
    t.same(remote.seen, ['question', 'answer'], 'a handler of another instance')
    t.same((await remoteClient.waitFor(2)).map((m) => m.data), ['question', 'answer'], 'a WebSocket client of another instance')
  })

  t.test('on an instance reacting to a message from another', async (t) => {
    const offBot = b.app.broadcast.subscribe('desk', (message) => {
      if (message === 'ping') b.app.broadcast.publish('desk', 'pong').catch(t.error)
    })
    await listening(b, 1)
    const client = await Client.connect(b.wsUrl, ['desk'])
    await listening(b, 2)
    const after = collect(b, 'desk')
    t.teardown(() => { offBot(); after.off(); client.close() })
    await waitRedisSubscribers(admin, 'desk', 1)

    await a.app.broadcast.publish('desk', 'ping')
    await after.waitFor(2)
    t.same(after.seen, ['ping', 'pong'])
    t.same((await client.waitFor(2)).map((m) => m.data), ['ping', 'pong'])
  })
})
