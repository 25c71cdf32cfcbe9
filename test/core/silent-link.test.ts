import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { bounded, boundFor, resolveRedis, senderFor, type RedisClient } from '@scaleout/core'
import { appFor, FreezingProxy, logSink, redisFor, type LogSink } from '../helpers/index.js'
import { waitUntil } from '../helpers/ports.js'

// A connection dropped without a reset (a NAT entry gone, a frozen middlebox) stayed open: every
// command timed out, for as long as TCP retransmits (about 15 minutes on Linux).

const server = await redisFor(t)
const plugin = '@scaleout/test'
const SILENT = `${plugin}: Redis connection silent (commands timed out, nothing received); reconnecting`

async function frozen (t: Test, option: (url: string) => unknown): Promise<{ client: RedisClient, proxy: FreezingProxy, sink: LogSink }> {
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const sink = logSink('warn')
  const app = appFor(t, { logger: sink.logger })
  const resolved = await resolveRedis(app, option(proxy.url) as string, { plugin })
  t.equal(await resolved.client.set('k', 'v'), 'OK')
  proxy.refuseNew()
  t.equal(proxy.freezeAll(), 1)
  return { client: resolved.client, proxy, sink }
}

/** Calls `attempt` until the client was reopened, then lets the network back and waits for an answer. */
async function reopened (t: Test, sink: LogSink, proxy: FreezingProxy, attempt: () => Promise<unknown>): Promise<void> {
  await waitUntil('the silent connection reopened', async () => {
    await attempt().catch(() => undefined)
    return sink.messages(40).includes(SILENT)
  }, 15_000, 10)
  proxy.acceptNew()
  await waitUntil('answers again', async () => await attempt().catch(() => null) === 'v', 15_000)
  t.same(sink.messages(40).filter((m) => m === SILENT), [SILENT], 'logged once')
}

t.test('commands through the core\'s sender', async (t) => {
  const { client, proxy, sink } = await frozen(t, (url) => url)
  const send = senderFor(client, true, 100)
  // Two at a time: the second times out with the first, too soon after it to count.
  await reopened(t, sink, proxy, async () => (await Promise.all([send.command('get', ['k']), send.command('get', ['k'])]))[0])
})

t.test('calls bounded() by the plugin', async (t) => {
  const { client, proxy, sink } = await frozen(t, (url) => url)
  await reopened(t, sink, proxy, async () => await bounded(client.get('k'), 100, client))
})

t.test('calls bounded by the client\'s own commandTimeout', async (t) => {
  const { client, proxy, sink } = await frozen(t, (url) => ({ url, commandTimeout: 100 }))
  const bound = boundFor(client, true, 1000)
  await reopened(t, sink, proxy, async () => await bound(client.get('k')))
})

t.test('a caller\'s client is left as it is, and so is one that is not connected', async (t) => {
  const proxy = await FreezingProxy.start(server.port)
  t.teardown(async () => await proxy.close())
  const mine = new Redis(proxy.url)
  t.teardown(() => mine.disconnect())
  const app = appFor(t)
  const resolved = await resolveRedis(app, mine, { plugin })
  t.equal(await mine.set('k', 'v'), 'OK')
  proxy.freezeAll()
  const send = senderFor(resolved.client, false, 50)
  for (let i = 0; i < 6; i++) {
    await t.rejects(send.command('get', ['k']), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT' })
    await new Promise((resolve) => setTimeout(resolve, 30))
  }
  t.equal(mine.status, 'ready', 'never reopened')

  const owned = await resolveRedis(appFor(t), server.url, { plugin })
  await owned.client.quit()
  await t.rejects(bounded(new Promise(() => {}), 20, owned.client), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT' })
  await t.rejects(bounded(new Promise(() => {}), 20, owned.client), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT' })
  t.equal(owned.client.status, 'end', 'a closed client stays closed')
})
