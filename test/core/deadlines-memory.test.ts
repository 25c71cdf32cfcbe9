import t from 'tap'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { senderFor } from '@scaleout/core'
import { adminFor, redisFor } from '../helpers/index.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

// On a client with no command timeout of its own (an app's @fastify/redis client), the sender
// bounds commands with its deadline queue. A settled command holds its reply: the queue kept the
// commands it had passed until it compacted, a thousand commands later, so under steady load every
// reply outlived the young generation and was copied to the old one.
t.test('the deadline queue keeps no reply once its command is answered', async (t) => {
  const server = await redisFor(t)
  const admin = adminFor(t, server)
  await admin.set('big', 'x'.repeat(60_000))
  const client = server.client()
  t.teardown(() => client.disconnect())
  t.equal(client.options.commandTimeout, undefined, 'the queue bounds this client\'s commands')
  const send = senderFor(client, false, 1000)
  await send.command('ping', [])
  gc()
  const before = process.memoryUsage().heapUsed
  // Ten in flight at every moment, as under load: the queue never empties between commands.
  let sent = 0
  let lengths = 0
  const worker = async (): Promise<void> => {
    while (sent < 600) {
      sent++
      const reply = await send.command<string>('get', ['big'])
      lengths += reply.length
    }
  }
  await Promise.all(Array.from({ length: 10 }, worker))
  gc()
  const grown = process.memoryUsage().heapUsed - before
  t.equal(lengths, 600 * 60_000, 'every reply arrived whole')
  // 600 replies of 60 KB would be 36 MB; the ten still queued behind the last send, under 1 MB.
  t.ok(grown < 5_000_000, `heap grew by ${(grown / 1e6).toFixed(1)} MB`)
})
