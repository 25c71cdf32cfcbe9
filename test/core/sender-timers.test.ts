import t from 'tap'
import { performance } from 'node:perf_hooks'
import { resolveRedis, senderFor } from '@scaleout/core'
import { adminFor, appFor, redisFor } from '../helpers/index.js'

// ioredis arms a timer for every command of a client with a `commandTimeout`. The sender bounds
// its commands with one deadline queue instead (see QueuedCommand in lib/src/send.ts), at the
// client's own timeout when that is the shorter, so a burst of commands costs one timer.

const timers = (): number => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length

t.test('commands sent on a client with a command timeout arm one timer, not one each', async (t) => {
  const server = await redisFor(t)
  const { client, owned } = await resolveRedis(appFor(t), { url: server.url, commandTimeout: 300 }, { plugin: '@scaleout/test' })
  const send = senderFor(client, owned, 1000)
  await send.command('ping', [])
  const before = timers()
  const replies = Array.from({ length: 50 }, async () => await send.command('ping', []))
  const during = timers()
  t.same(await Promise.all(replies), Array(50).fill('PONG'))
  t.ok(during - before <= 1, `${during - before} timers for 50 commands in flight`)
})

t.test('the client\'s own shorter command timeout still bounds them', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  const { client, owned } = await resolveRedis(appFor(t), { url: server.url, commandTimeout: 300 }, { plugin: '@scaleout/test' })
  const send = senderFor(client, owned, 5000)
  await send.command('ping', [])
  // CLIENT PAUSE holds every client's commands (the admin's CLIENT command included, which answers first).
  await admin.client('PAUSE', 1500, 'ALL')
  const started = performance.now()
  await t.rejects(send.command('get', ['k']), { code: 'SCALEOUT_ERR_REDIS_TIMEOUT' })
  const waited = performance.now() - started
  t.ok(waited >= 290 && waited < 1500, `failed after ${Math.round(waited)} ms, at the client's 300 ms`)
})
