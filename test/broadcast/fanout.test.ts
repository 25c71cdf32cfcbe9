import t from 'tap'
import { adminFor, redisFor, waitUntil } from '../helpers/index.js'
import { collect, PREFIX, startFleet, startInstance, waitRedisSubscribers, type Client, type Instance } from './helpers.js'

t.test('three instances, WebSocket clients on each', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const { instances, clients } = await startFleet(t, 3, { redis: server.url, heartbeatInterval: '1s' }, [['news'], ['news', 'sport']])
  await waitRedisSubscribers(admin, 'news', 3)
  await waitRedisSubscribers(admin, 'sport', 3)

  t.test('a publish on one instance reaches every client on every instance, once', async (t) => {
    const [first] = instances as [Instance]
    const result = await first.app.broadcast.publish('news', { headline: 'hello', n: 1 })
    t.match(result, { delivered: 2, remote: true, receivers: 3, error: null })
    t.match(result.id, /^[0-9a-f-]{36}$/)
    for (const c of clients) t.same(await c.waitFor(1), [{ channel: 'news', data: { headline: 'hello', n: 1 } }])
    await first.app.broadcast.publish('sport', 'goal')
    for (const [i, c] of clients.entries()) {
      if (i % 2 === 1) t.same((await c.waitFor(2))[1], { channel: 'sport', data: 'goal' })
    }
    // A last message behind them: Redis delivers in order, so any copy would have come before it.
    await first.app.broadcast.publish('news', 'end')
    for (const [i, c] of clients.entries()) {
      t.same((await c.waitFor(i % 2 === 1 ? 3 : 2)).map((m) => m.data), i % 2 === 1 ? [{ headline: 'hello', n: 1 }, 'goal', 'end'] : [{ headline: 'hello', n: 1 }, 'end'], 'no copies, nothing on other channels')
    }
    await waitUntil('every echo and delivery counted', () => instances[0]?.app.broadcast.stats().echoes === 3 && instances.slice(1).every((i) => i.app.broadcast.stats().received === 3))
    const stats = instances.map((i) => i.app.broadcast.stats())
    t.match(stats[0], { published: 3, echoes: 3, received: 0, sockets: 2, listeners: 3, channels: 2 + 1 })
    t.match(stats[1], { published: 0, received: 3, echoes: 0, sockets: 2 })
  })

  t.test('a message a client sends (onMessage) is published from its instance', async (t) => {
    const sender = clients[5] as Client
    const before = clients.map((c) => c.received.length)
    sender.ws.send(JSON.stringify({ channel: 'sport', message: [1, 2, 3] }))
    for (const [i, c] of clients.entries()) {
      if (i % 2 === 1) t.same((await c.waitFor((before[i] as number) + 1)).at(-1), { channel: 'sport', data: [1, 2, 3] })
    }
  })

  t.test('handlers get the message with its envelope; local ones first, before Redis answers', async (t) => {
    const [a, b] = instances as [Instance, Instance]
    const seenA: unknown[] = []
    const seenB: unknown[] = []
    const offA = a.app.broadcast.subscribe('orders', (message, meta) => { seenA.push({ message, meta }) })
    const offB = b.app.broadcast.subscribe('orders', (message, meta) => { seenB.push({ message, meta }) })
    t.teardown(() => { offA(); offB() })
    await waitRedisSubscribers(admin, 'orders', 2)
    const when = Date.now()
    const pending = a.app.broadcast.publish('orders', { id: 7, at: new Date(0) })
    // Delivered synchronously inside publish(), before the PUBLISH reply could have arrived.
    t.equal(seenA.length, 1)
    const result = await pending
    t.match(result, { delivered: 1, remote: true, receivers: 2 })
    const local = seenA[0] as { message: unknown, meta: Record<string, unknown> }
    t.same(local.message, { id: 7, at: '1970-01-01T00:00:00.000Z' }, 'local handlers see the JSON form, as remote ones do')
    t.same(local.meta, { channel: 'orders', id: result.id, origin: a.app.broadcast.instanceId, time: local.meta.time, local: true })
    t.ok((local.meta.time as number) >= when)
    await waitUntil('the remote delivery', () => seenB.length === 1)
    const remote = seenB[0] as { message: unknown, meta: Record<string, unknown> }
    t.same(remote, { message: { id: 7, at: '1970-01-01T00:00:00.000Z' }, meta: { ...local.meta, local: false } })
    t.equal(seenA.length, 1, 'the publisher dropped its own echo')
  })

  // Once the PUBLISH went out after local delivery: a message a handler published in reaction
  // reached Redis, and every other instance, before the message that caused it.
  t.test('a message a handler publishes in reaction reaches the other instances after its cause', async (t) => {
    const [a, b] = instances as [Instance, Instance]
    const offBot = a.app.broadcast.subscribe('room', (message) => {
      if (message === 'question') a.app.broadcast.publish('room', 'answer').catch(t.error)
    })
    const onB = collect(b, 'room')
    t.teardown(() => { offBot(); onB.off() })
    await waitRedisSubscribers(admin, 'room', 2)
    await a.app.broadcast.publish('room', 'question')
    await onB.waitFor(2)
    t.same(onB.seen, ['question', 'answer'])
  })

  t.test('subscriptions are reference-counted: Redis unsubscribes when the last local listener leaves', async (t) => {
    const [a, b] = instances as [Instance, Instance]
    const offs = [a.app.broadcast.subscribe('refs', () => {}), a.app.broadcast.subscribe('refs', () => {}), b.app.broadcast.subscribe('refs', () => {})]
    await waitRedisSubscribers(admin, 'refs', 2)
    const { commands } = await server.countCommands(async () => {
      offs[0]?.()
      offs[0]?.()
      // A SUBSCRIBE on the same connection, after anything the lines above could have sent.
      const marker = a.app.broadcast.subscribe('marker', () => {})
      await waitRedisSubscribers(admin, 'marker', 1)
      marker()
      await waitRedisSubscribers(admin, 'marker', 0)
    })
    // The heartbeats (PUBLISH every second) and this test's PUBSUB NUMSUB may fall in the window.
    const { publish: _heartbeats, 'pubsub|numsub': _checks, ...others } = commands
    t.same(others, { subscribe: 1, unsubscribe: 1 }, 'one of two local listeners leaving sends nothing (the marker\'s two only)')
    await waitRedisSubscribers(admin, 'refs', 2)
    offs[1]?.()
    await waitRedisSubscribers(admin, 'refs', 1)
    offs[2]?.()
    await waitRedisSubscribers(admin, 'refs', 0)
    t.equal(a.app.broadcast.stats().channels, 3, 'news, sport and the heartbeat channel')
  })

  t.test('no pattern subscriptions, exact channel names under the prefix', async (t) => {
    t.same(await admin.call('PUBSUB', 'NUMPAT'), 0)
    const channels = (await admin.call('PUBSUB', 'CHANNELS') as string[]).sort()
    t.same(channels.filter((c) => c.startsWith(PREFIX + 'c:')), [PREFIX + 'c:news', PREFIX + 'c:sport'])
    t.equal(channels.filter((c) => c.startsWith(PREFIX + 'hb:')).length, 3, 'one heartbeat channel per instance')
  })

  t.test('a copy of a message arriving twice is dropped by the de-duplication window', async (t) => {
    const [a, b] = instances as [Instance, Instance]
    const { seen, off, waitFor } = collect(b, 'dups')
    t.teardown(off)
    await waitRedisSubscribers(admin, 'dups', 1)
    const envelope = `{"v":1,"id":"00000000-0000-4000-8000-000000000001","o":"elsewhere:1:abc","t":${Date.now()},"d":{"x":1}}`
    await admin.publish(PREFIX + 'c:dups', envelope)
    await admin.publish(PREFIX + 'c:dups', envelope)
    await a.app.broadcast.publish('dups', 'after')
    await waitFor(2)
    t.same(seen, [{ x: 1 }, 'after'])
    t.equal(b.app.broadcast.stats().duplicates, 1)
  })

  t.test('garbage on a broadcast channel is dropped and counted, never delivered', async (t) => {
    const [a, b] = instances as [Instance, Instance]
    const { seen, off, waitFor } = collect(b, 'junk')
    t.teardown(off)
    await waitRedisSubscribers(admin, 'junk', 1)
    const before = b.app.broadcast.stats().rejected
    const id = '00000000-0000-4000-8000-000000000002'
    for (const text of ['hello', '{"v":2}', `{"v":1,"id":"${id}","o":"x:1:a","t":1,"d":{"__proto__":{"polluted":1}}`,
      `{"v":1,"id":"${id}","o":"x:1:a","t":1,"d":{nope}}`, `{"v":1,"id":"${id}","o":"x\\"y","t":1,"d":1}`]) {
      await admin.publish(PREFIX + 'c:junk', text)
    }
    await a.app.broadcast.publish('junk', { fine: true })
    await waitFor(1)
    t.same(seen, [{ fine: true }])
    t.equal(b.app.broadcast.stats().rejected - before, 5)
    t.equal(({} as Record<string, unknown>).polluted, undefined)
  })

  t.test('a prototype-polluting body is stripped of __proto__', async (t) => {
    const [, b] = instances as [Instance, Instance]
    const { seen, off, waitFor } = collect(b, 'proto')
    t.teardown(off)
    await waitRedisSubscribers(admin, 'proto', 1)
    await admin.publish(PREFIX + 'c:proto', '{"v":1,"id":"00000000-0000-4000-8000-000000000003","o":"x:1:a","t":1,"d":{"__proto__":{"polluted":1},"a":1}}')
    await waitFor(1)
    t.same(seen, [{ a: 1 }])
    t.equal(Object.getPrototypeOf(seen[0]), Object.prototype)
  })

  t.test('the de-duplication window is bounded: an id older than the window is let through again', async (t) => {
    const small = await startInstance(t, { redis: server.url, dedupWindow: 2 })
    const { seen, waitFor } = collect(small, 'window')
    await waitRedisSubscribers(admin, 'window', 1)
    const envelope = (n: number): string => `{"v":1,"id":"00000000-0000-4000-8000-00000000010${n}","o":"elsewhere:1:abc","t":1,"d":${n}}`
    for (const n of [1, 2, 1, 3, 1]) await admin.publish(PREFIX + 'c:window', envelope(n))
    // The last one published is the fourth delivered: every earlier one was judged before it.
    await waitFor(4)
    t.same(seen, [1, 2, 3, 1], 'the second 1 was within the window, the third had been evicted by 2 and 3')
    t.equal(small.app.broadcast.stats().duplicates, 1)
  })
})
