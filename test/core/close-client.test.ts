import t from 'tap'
import { Redis } from 'ioredis'
import { closeClient } from '@scaleout/core'
import { RedisServer } from '../helpers/index.js'

const server = await RedisServer.start()
t.teardown(async () => await server.stop())

t.test('closeClient on a client that has already ended returns at once and leaves it ended', async (t) => {
  const client = new Redis(server.url)
  await client.ping()
  await client.quit()
  if (client.status !== 'end') await new Promise((resolve) => client.once('end', resolve))
  t.equal(client.status, 'end')
  let ends = 0
  client.on('end', () => { ends++ })
  // Waiting for an 'end' that already happened would hang until the timeout: none is given room here.
  await closeClient(client, 60_000)
  t.equal(client.status, 'end')
  t.equal(ends, 0, 'nothing was closed again')
})

t.test('closeClient quits a ready client and resolves once it has ended', async (t) => {
  const client = new Redis(server.url)
  await client.ping()
  await closeClient(client)
  t.equal(client.status, 'end')
})
