import t from 'tap'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { redisFor, waitUntil, type RedisServer } from '../helpers/index.js'
import { build, cookieOf } from './setup.js'

// README, Round trips: "Parallel loads are shared only while not yet sent: loads of one session
// requested while the event loop handles one batch of I/O go out together at `setImmediate`, after
// every request of the batch arrived, so each still sees every write that completed before it
// arrived."

/**
 * A TCP proxy in front of a redis-server that can hold Redis's replies (buffered, in order, not
 * dropped) until `release()`: a command sent meanwhile has run on Redis, and its caller has not
 * heard back yet.
 */
class ReplyHoldingProxy {
  private holding = false
  private readonly held: Array<() => void> = []
  private readonly sockets = new Set<Socket>()
  private server: Server | undefined
  port = 0

  async start (target: RedisServer): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(target.port, target.host)
      this.sockets.add(client).add(upstream)
      client.on('data', (chunk: Buffer) => upstream.write(chunk))
      upstream.on('data', (chunk: Buffer) => {
        if (this.holding) this.held.push(() => client.write(chunk))
        else client.write(chunk)
      })
      const end = (): void => {
        client.destroy()
        upstream.destroy()
      }
      client.on('close', end).on('error', end)
      upstream.on('close', end).on('error', end)
    })
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as { port: number }).port
  }

  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  hold (): void {
    this.holding = true
  }

  release (): void {
    this.holding = false
    for (const write of this.held.splice(0)) write()
  }

  async close (): Promise<void> {
    this.release()
    for (const socket of this.sockets) socket.destroy()
    await new Promise((resolve) => this.server?.close(resolve))
  }
}

t.test('a load already sent is not shared: a request that arrives after a write completed sees it, though an earlier read is still in flight', async (t) => {
  const server = await redisFor(t)
  const proxy = new ReplyHoldingProxy()
  await proxy.start(server)
  t.teardown(async () => await proxy.close())
  // The instance under test talks to Redis through the proxy (a long bound: replies are held);
  // another instance, straight to Redis, makes the write.
  const app = await build(t, { redis: proxy.url, timeout: '30s' })
  const other = await build(t, { redis: server.url })

  const cookie = cookieOf(await app.inject({ method: 'POST', url: '/set', payload: { n: 1 } })) as string
  t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: 1 }, 'this instance read the session once before')
  const getex = async (): Promise<number> => (await server.commandStats()).getex ?? 0
  const before = await server.commandStats()

  proxy.hold()
  let first, second
  try {
    first = app.inject({ url: '/get/n', headers: { cookie } })
    await waitUntil('the first request\'s GETEX to run on Redis', async () => await getex() === (before.getex ?? 0) + 1, 5_000, 5)

    const write = await other.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { n: 2 } })
    t.equal(write.statusCode, 200, 'a write on another instance completed (its GETEX and APPEND)')
    t.equal(await getex(), (before.getex ?? 0) + 2)

    second = app.inject({ url: '/get/n', headers: { cookie } })
    const own = await waitUntil('the second request\'s own GETEX', async () => await getex() === (before.getex ?? 0) + 3, 5_000, 5).then(() => true, () => false)
    t.ok(own, 'the second request sent a GETEX of its own: the first one\'s had been sent')
  } finally {
    proxy.release()
  }
  const [a, b] = await Promise.all([first, second])
  t.equal(a?.statusCode, 200)
  t.same(a?.json(), { value: 1 }, 'the first request read before the write')
  t.equal(b?.statusCode, 200)
  t.same(b?.json(), { value: 2 }, 'the second request sees the write that completed before it arrived')
  t.equal(a?.headers['set-cookie'], undefined)
  t.equal(b?.headers['set-cookie'], undefined)

  const after = await server.commandStats()
  t.same({ getex: (after.getex ?? 0) - (before.getex ?? 0), append: (after.append ?? 0) - (before.append ?? 0) }, { getex: 3, append: 1 },
    'three reads (first, the writer\'s, second) and the one write')
  t.same((await app.inject({ url: '/get/n', headers: { cookie } })).json(), { value: 2 })
})
